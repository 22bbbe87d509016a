// The extension's command ids (every one is in the command palette, category "nbflow").
export namespace CommandIDs {
  export const openSidebar = 'nbflow:open-sidebar';
  export const openRun = 'nbflow:open-run';
  export const openLatestRun = 'nbflow:open-latest-run';
  export const runWorkflow = 'nbflow:run-workflow';
  export const runWithParameters = 'nbflow:run-workflow-with-parameters';
  export const compile = 'nbflow:compile';
  export const lint = 'nbflow:lint';
  export const schedule = 'nbflow:schedule';
  export const runAction = 'nbflow:run-action';
  export const deleteRun = 'nbflow:delete-run';
  export const openExecuted = 'nbflow:open-executed-notebook';
  export const goToCell = 'nbflow:go-to-cell';
  export const showCellTask = 'nbflow:show-cell-task';
  export const makeTemplate = 'nbflow:make-template';
  export const makeSetup = 'nbflow:make-setup';
  export const refresh = 'nbflow:refresh';
  export const newSchedule = 'nbflow:new-schedule';
  export const pauseSchedule = 'nbflow:pause-schedule';
  export const resumeSchedule = 'nbflow:resume-schedule';
  export const runScheduleNow = 'nbflow:run-schedule-now';
  export const deleteSchedule = 'nbflow:delete-schedule';
  export const scheduleHistory = 'nbflow:show-schedule-history';
}
