/**
 * The one page `tessera serve` shows: pick or drop an image, see the top classes and the nearest
 * training images with their matching tiles outlined. Everything is inline (the server's
 * Content-Security-Policy allows nothing else): it loads nothing from the network but this
 * server's own /search and /images/N.
 */
export const SEARCH_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tessera search</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 1.5rem; text-align: center; }
  #drop.over { border-color: #06c; background: #eef5ff; }
  #status { margin: 1rem 0; min-height: 1.4em; }
  #status.error { color: #b00; }
  .row { display: flex; gap: 2rem; align-items: flex-start; flex-wrap: wrap; }
  #query img { max-width: 16rem; border-radius: 4px; }
  ol.classes li { margin: .2rem 0; }
  .images { display: flex; flex-wrap: wrap; gap: 1rem; }
  figure { margin: 0; width: 12rem; }
  .tiles { position: relative; width: 12rem; height: 12rem; }
  .tiles img { width: 100%; height: 100%; display: block; }
  .tile { position: absolute; box-sizing: border-box; border: 2px solid #ff0; outline: 1px solid #000; }
  figcaption { font-size: 13px; }
</style>
</head>
<body>
<h1>tessera search</h1>
<div id="drop">Drop an image here, or <label><input id="pick" type="file" accept="image/*"></label></div>
<div id="status" role="status"></div>
<div class="row">
  <div id="query"></div>
  <div><h2 hidden id="classes-title">Top classes</h2><ol class="classes" id="classes"></ol></div>
</div>
<h2 hidden id="images-title">Nearest training images</h2>
<div class="images" id="images"></div>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const status = (text, error) => { $('status').textContent = text; $('status').className = error ? 'error' : ''; };
  const element = (tag, props = {}, children = []) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  async function search(file) {
    $('query').replaceChildren(element('img', { src: URL.createObjectURL(file), alt: 'query' }));
    $('classes').replaceChildren();
    $('images').replaceChildren();
    status('Searching…');
    let response;
    try {
      response = await fetch('/search', { method: 'POST', body: file, headers: { 'content-type': file.type || 'application/octet-stream' } });
    } catch (error) {
      return status('The server did not answer: ' + error.message, true);
    }
    const answer = await response.json().catch(() => ({ error: 'an answer that is not JSON' }));
    if (!response.ok) return status('Refused (' + response.status + '): ' + answer.error, true);
    status('Model ' + answer.timings.embedMs.toFixed(0) + ' ms, index ' + answer.timings.searchMs.toFixed(1) + ' ms');
    $('classes-title').hidden = false;
    $('images-title').hidden = false;
    $('classes').replaceChildren(...answer.classes.map((c) =>
      element('li', { className: 'class', textContent: 'class ' + c.target + ' (' + c.score.toFixed(3) + ')' })));
    const [rows, columns] = answer.grid;
    $('images').replaceChildren(...answer.images.map((image) => {
      const tiles = image.matches.map((m) => {
        const box = element('div', { className: 'tile', title: 'distance ' + m.distance.toFixed(3) });
        Object.assign(box.style, {
          top: (100 * m.tile[0] / rows) + '%', left: (100 * m.tile[1] / columns) + '%',
          width: (100 / columns) + '%', height: (100 / rows) + '%',
        });
        return box;
      });
      return element('figure', { className: 'result' }, [
        element('div', { className: 'tiles' }, [element('img', { src: '/images/' + image.ordinal, alt: image.file }), ...tiles]),
        element('figcaption', { textContent: image.file + ' · class ' + image.target + ' · ' + image.score.toFixed(3) + ' · ' + image.matches.length + ' tiles' }),
      ]);
    }));
  }
  $('pick').addEventListener('change', () => { const file = $('pick').files[0]; if (file) search(file); });
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer.files[0];
    if (file) search(file);
  });
})();
</script>
</body>
</html>
`;
