// Starts the browser game on any page that loads it (`index.html` at `/`,
// the signaling server's share page at `/play/{CODE}`):
//
// - no WebGL2: un-hides `#p2p-no-webgl` (or writes a note), hides the Join
//   button, downloads and starts nothing;
// - otherwise downloads the game at once, compiling it while it streams in,
//   and shows the bytes so far in `<progress id="p2p-progress">`;
// - with a `<button id="p2p-join">` on the page, the game starts when it is
//   pressed (pressed early: when the download ends); without one, as soon
//   as the download ends. Starting adds the class `p2p-playing` to <body>.
//
// The game renders into `<canvas id="arena">` and reads its room from the
// page's URL. web/build.sh writes this file into web/dist with the
// content-hashed names of the game's files filled in below; it is served
// with `Cache-Control: no-cache`, so a new build is picked up at once.

const GAME_JS = "/__GAME_JS__";
const GAME_WASM = "/__GAME_WASM__";
// The wasm's decoded size: the body stream counts decoded bytes, whatever
// the transfer encoding (br, gzip) was.
const GAME_WASM_BYTES = Number("__GAME_WASM_BYTES__");

const join = document.getElementById("p2p-join");
const progress = document.getElementById("p2p-progress");

/** Shows a short message: in `#p2p-status` if the page has one, else in a note of its own. */
function say(text) {
  let status = document.getElementById("p2p-status");
  if (!status) {
    status = document.createElement("p");
    status.id = "p2p-status";
    status.setAttribute("role", "status");
    status.style.cssText = "position:fixed;left:0;right:0;bottom:0;margin:0;padding:12px;"
      + "background:#222;color:#eee;font:16px system-ui,sans-serif;text-align:center;z-index:10";
    document.body.append(status);
  }
  status.hidden = false;
  status.textContent = text;
}

function hasWebGl2() {
  try {
    return Boolean(document.createElement("canvas").getContext("webgl2"));
  } catch {
    return false;
  }
}

/** Fetches the wasm and compiles it while it streams in, counting its bytes for the progress bar. */
async function download() {
  const response = await fetch(GAME_WASM);
  if (!response.ok || !response.body) {
    throw new Error(`the download failed (HTTP ${response.status})`);
  }
  if (progress && GAME_WASM_BYTES > 0) {
    progress.max = GAME_WASM_BYTES;
    progress.value = 0;
  }
  // The browser compiles the response itself as it streams (and may keep
  // the compiled code with the cached file); a copy of the stream counts
  // the bytes. Counted bytes are decoded bytes, whatever the encoding.
  const counted = count(response.clone().body);
  const compiled = typeof WebAssembly.compileStreaming === "function" &&
      response.headers.get("Content-Type") === "application/wasm"
    ? WebAssembly.compileStreaming(response)
    : response.arrayBuffer().then((bytes) => WebAssembly.compile(bytes));
  const [module] = await Promise.all([compiled, counted]);
  return module;
}

/** Reads `body` to its end, showing the bytes read so far. */
async function count(body) {
  const reader = body.getReader();
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    loaded += value.byteLength;
    if (progress && GAME_WASM_BYTES > 0) {
      progress.value = Math.min(loaded, GAME_WASM_BYTES);
    }
  }
  if (progress) {
    progress.value = progress.max;
  }
}

/** Runs the game: instantiates the compiled module through wasm-bindgen's glue. */
async function start(module, glue) {
  document.body.classList.add("p2p-playing");
  document.getElementById("arena")?.focus();
  try {
    await glue.default({ module_or_path: module });
  } catch (error) {
    // Bevy ends its run loop by throwing on purpose; anything else is real.
    if (!String(error).includes("Using exceptions for control flow")) {
      throw error;
    }
  }
}

function failed(error) {
  document.body.classList.remove("p2p-playing");
  document.body.classList.add("p2p-failed");
  say(`The game could not start: ${error.message ?? error}`);
  if (join) {
    join.disabled = true;
  }
  console.error(error);
}

if (!hasWebGl2()) {
  const note = document.getElementById("p2p-no-webgl");
  if (note) {
    note.hidden = false;
  } else {
    say("This browser has no WebGL2, which the game needs: try a recent Chrome, Firefox or Safari, or turn on hardware acceleration.");
  }
  if (join) {
    join.hidden = true;
    join.disabled = true;
  }
  progress?.setAttribute("hidden", "");
  document.body.classList.add("p2p-no-webgl");
} else {
  // Both downloads start now, side by side.
  const ready = Promise.all([download(), import(GAME_JS)]);
  ready.catch(() => {}); // reported when the game is started
  const run = () => ready.then(([module, glue]) => start(module, glue)).catch(failed);
  if (join) {
    join.addEventListener("click", () => {
      join.disabled = true;
      run();
    }, { once: true });
    ready.then(() => document.body.classList.add("p2p-downloaded"), failed);
  } else {
    run();
  }
}
