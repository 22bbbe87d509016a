// Unit tests of the TypeScript side and of the shared graph renderer (nbflow/widget/static),
// in jsdom. Tests import only modules without JupyterLab imports at run time (api.ts and the
// widgets' glue are covered by the browser tests in tests/labextension/).
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 10000
};
