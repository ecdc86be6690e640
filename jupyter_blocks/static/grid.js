// Draws the big grids of jupyter-blocks pages on their <canvas>, from the compact form the
// server writes into the page (render.py's grid_drawing): zlib-compressed bytes, four per block
// (red, green, blue, size), rows top first. A static file, so pages need no inline script.
'use strict';

async function inflate(base64) {
  const packed = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function drawGrid(canvas) {
  const width = Number(canvas.dataset.width);
  const height = Number(canvas.dataset.height);
  const cell = Number(canvas.dataset.cell);
  const blocks = await inflate(canvas.dataset.pixels);
  // One pixel per block, then scaled up without smoothing: a few draw calls for any size.
  const image = new ImageData(width, height);
  for (let block = 0; block < width * height; block++) {
    image.data.set(blocks.subarray(block * 4, block * 4 + 3), block * 4);
    image.data[block * 4 + 3] = 255;
  }
  const small = document.createElement('canvas');
  small.width = width;
  small.height = height;
  small.getContext('2d').putImageData(image, 0, 0);
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, width * cell, height * cell);
  if (canvas.dataset.linesOn === 'true' && cell >= 3) {
    context.strokeStyle = 'white';
    context.lineWidth = 1;
    context.beginPath();
    for (let x = 0; x <= width; x++) {
      context.moveTo(x * cell + 0.5, 0);
      context.lineTo(x * cell + 0.5, height * cell);
    }
    for (let y = 0; y <= height; y++) {
      context.moveTo(0, y * cell + 0.5);
      context.lineTo(width * cell, y * cell + 0.5);
    }
    context.stroke();
  }
  canvas.dataset.drawn = 'true';
}

for (const canvas of document.querySelectorAll('canvas.blockgrid[data-pixels]')) {
  drawGrid(canvas);
}
