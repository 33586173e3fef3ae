import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ImageFiles } from '../../lib/extract/image-files.ts';
import { tempDir } from '../support/environment.ts';

function imageFolder() {
  const dir = tempDir('image-files');
  const images = path.join(dir, 'images');
  fs.mkdirSync(path.join(images, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(images, 'a.jpg'), 'A');
  fs.writeFileSync(path.join(images, 'sub', 'b.jpg'), 'B');
  fs.writeFileSync(path.join(dir, 'secret.jpg'), 'S');
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  fs.writeFileSync(path.join(dir, 'elsewhere', 'c.jpg'), 'C');
  fs.symlinkSync(path.join(images, 'a.jpg'), path.join(images, 'inside-link.jpg'));
  fs.symlinkSync(path.join(dir, 'secret.jpg'), path.join(images, 'outside-link.jpg'));
  fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(images, 'linked-folder'));
  return { dir: fs.realpathSync(dir), images: fs.realpathSync(images), files: new ImageFiles(fs.realpathSync(images)) };
}

// The decode threads read with readBlocking, shard checks with read: both must refuse alike.
const readers = {
  read: (files: ImageFiles, id: string) => files.read(id, () => {}),
  readBlocking: async (files: ImageFiles, id: string) => files.readBlocking(id, () => {}),
};

for (const [name, readBytes] of Object.entries(readers)) {
  const read = (files: ImageFiles, id: string) => readBytes(files, id).then((bytes) => bytes.toString());

  test(`${name}: image files are read inside the image folder, through symlinks that stay inside`, async () => {
    const { files } = imageFolder();
    assert.equal(await read(files, 'a.jpg'), 'A');
    assert.equal(await read(files, 'sub/b.jpg'), 'B');
    assert.equal(await read(files, 'inside-link.jpg'), 'A');
  });

  test(`${name}: a symlinked file or folder leading outside the image folder and the roots is refused, naming where it leads`, async () => {
    const { files } = imageFolder();
    const outside = /image resolves outside the image folder and the folders this worker may use/;
    await assert.rejects(read(files, 'outside-link.jpg'), new RegExp(`${outside.source} \\(.*secret\\.jpg\\)`));
    await assert.rejects(read(files, 'linked-folder/c.jpg'), new RegExp(`${outside.source} \\(.*elsewhere\\)`));
    await assert.rejects(read(files, '../secret.jpg'), /points outside the image folder/);
  });

  test(`${name}: links are followed into the worker's roots, and anywhere for the embedded run`, async () => {
    const { dir, images } = imageFolder();
    const inRoots = new ImageFiles(images, [path.join(dir, 'elsewhere')]);
    assert.equal(await read(inRoots, 'linked-folder/c.jpg'), 'C');
    await assert.rejects(read(inRoots, 'outside-link.jpg'), /outside the image folder and the folders/);
    const anywhere = new ImageFiles(images, 'anywhere');
    assert.equal(await read(anywhere, 'outside-link.jpg'), 'S');
    assert.equal(await read(anywhere, 'linked-folder/c.jpg'), 'C');
    await assert.rejects(read(anywhere, '../secret.jpg'), /points outside the image folder/, 'a name is still inside');
  });

  test(`${name}: a missing file (or folder) is reported under the path the CSV names`, async () => {
    const { images, files } = imageFolder();
    for (const id of ['missing.jpg', 'nofolder/x.jpg', 'a.jpg/x.jpg']) {
      await assert.rejects(
        read(files, id),
        (error: NodeJS.ErrnoException) => error.code === 'ENOENT' && error.path === path.join(images, id),
      );
    }
  });
}
