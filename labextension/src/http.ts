// Reading the nbflow server's answers (no JupyterLab imports, so that unit tests stay light).

/** An error answer of the server: its one-line message and HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** `path` with the query parameters that are set. */
export function withQuery(path: string, query: Record<string, unknown> = {}): string {
  const parts = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

/**
 * The JSON of an answer; an ApiError with the server's `{"message"}` (else the status line)
 * when its status is not 2xx.
 */
export function answer<T>(status: number, statusText: string, text: string, path: string): T {
  let data: any = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 300) };
    }
  }
  if (status < 200 || status >= 300) {
    const message =
      data && typeof data.message === 'string' && data.message
        ? data.message
        : `${status} ${statusText} (${path})`.replace('  ', ' ');
    throw new ApiError(message, status);
  }
  return data as T;
}
