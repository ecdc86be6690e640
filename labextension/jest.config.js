const jestJupyterLab = require('@jupyterlab/testing/lib/jest-config');

module.exports = {
  ...jestJupyterLab(__dirname),
  reporters: ['default'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$'
};
