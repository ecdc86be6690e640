// Draws the big grids of jupyter-blocks pages on their <canvas> (render.py's grid_drawing),
// from the grid's packed pixels (blocks/api/grids/<id>/pixels): zlib-compressed bytes, four per
// block (red, green, blue, size), rows top first. A static file: pages need no inline script.
'use strict';

async function fetchBlocks(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) {
    throw new Error(`${url}: ${response.status}`);
  }
  const stream = response.body.pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function drawGrid(canvas) {
  const width = Number(canvas.dataset.width);
  const height = Number(canvas.dataset.height);
  const blocks = await fetchBlocks(canvas.dataset.pixelsUrl);
  // Every block in a cell as big as the largest block (as a table's widest column would be),
  // smaller when the canvas would be too big.
  let largest = 1;
  for (let block = 3; block < blocks.length; block += 4) {
    largest = Math.max(largest, blocks[block]);
  }
  const cell = Math.max(
    1,
    Math.min(largest, Math.floor(Number(canvas.dataset.maxPx) / Math.max(width, height)))
  );
  canvas.width = width * cell;
  canvas.height = height * cell;
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

for (const canvas of document.querySelectorAll('canvas.blockgrid[data-pixels-url]')) {
  drawGrid(canvas);
}
