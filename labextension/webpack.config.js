// Merged into @jupyterlab/builder's configuration. Graphviz compiled to WebAssembly (the
// widget's static/viz-standalone.mjs, 3.4 MB) is copied as one static file of the extension,
// loaded on first use through `new URL(..., import.meta.url)`, never parsed into a bundle.
module.exports = {
  module: {
    rules: [
      {
        test: /viz-standalone\.mjs$/,
        type: 'asset/resource',
        generator: { filename: 'viz-standalone.[contenthash:12].mjs' }
      }
    ]
  }
};
