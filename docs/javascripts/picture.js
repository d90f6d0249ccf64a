// Pictures of a layer: one filter of it drawn as SVG, with the products and additions that land
// on each output position, generated from the layer itself and never drawn by hand.
//
// One generator for the whole site: the calculator calls it in the browser for the reader's
// layer, and the site build runs this same module under node (convops_book.pictures) to put
// static pictures on the module pages and the home page.  The layer is read and checked, and its
// output size computed, by the calculator's own path (calculator.js's `compute`: convops'
// formulas printed as JavaScript at build); so are the extents of a transposed layer's scatter
// and gather (calculator.js's `outputSize`, of the layer with parameters changed).  What is done
// here is the drawing and the drawn filter's enumeration: each output position, the taps that
// reach it, the values torch computes there.  tests/test_pictures.py compares the values with
// torch and the tallies with Python loops; tests/site/test_site_pictures.py does the same for the
// calculator's pictures.
//
// The contract the tests read: the root carries data-picture, data-layer, data-input and
// data-filter="ci,co"; each output position of the drawn filter is an element with
// data-position="o1,o2,…", data-products and data-additions (and data-value: the layer's output
// there, torch's); a transposed layer's positions cropped by padding carry data-cropped="u1,…"
// (their uncropped index); padding input cells carry data-padding="mode"; in the gather view the
// zeros the stride inserts carry data-inserted and the elements its crop drops data-trimmed.

import { compute, outputSize, paddingPerSide } from "./calculator.js";

const C = 20; // a cell's side, in SVG units
const LABEL = 16; // a grid's label line
const SCALE = 1.4; // drawn size per SVG unit where the column is wide enough (narrower: scaled to fit)
//: Largest extent drawn per dimension, by the number of spatial dimensions.
const LIMITS = { 1: [24], 2: [14, 14], 3: [6, 8, 10] };
const MAX_CHANNELS = 16; // channel links are drawn up to this many channels a side

const product = (xs) => xs.reduce((a, b) => a * b, 1);
const esc = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const tuple = (xs) => (xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(", ")})`);
const times = (xs) => xs.join("×");

// Every index of `shape`, in row-major (torch's) order.
function indices(shape) {
  const out = [];
  const total = product(shape);
  for (let t = 0; t < total; t++) out.push(unravel(t, shape));
  return out;
}
export function unravel(t, shape) {
  const index = Array(shape.length);
  for (let dim = shape.length - 1; dim >= 0; dim--) {
    index[dim] = t % shape[dim];
    t = Math.floor(t / shape[dim]);
  }
  return index;
}
const ravel = (index, shape) => index.reduce((a, x, dim) => a * shape[dim] + x, 0);

// -- the sample: small integers, the same at every build ------------------------------------------
// Each value a hash of which tensor and which element, so that a picture reads only the values it
// draws, in any order, and the tests rebuild the whole tensors the same.
function pick(tensor, index, low, high) {
  let h = Math.imul(tensor + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return low + (((h ^ (h >>> 15)) >>> 0) % (high - low + 1));
}

// Input x(ci, t), weight w(a, b, t) (t flat over the kernel; torch's layout: (C_out, C_in/g, *k)
// for a convolution, (C_in, C_out/g, *k) transposed) and bias b(co) (or null).
function values(g) {
  const cols = g.transposed ? g.cout / g.groups : g.cin / g.groups;
  const taps = product(g.k);
  const cells = product(g.sizeIn);
  return {
    x: (ci, t) => pick(1, ci * cells + t, 0, 3),
    w: (a, b, t) => pick(2, (a * cols + b) * taps + t, -1, 2),
    b: g.bias ? (co) => pick(3, co, -2, 2) : null,
  };
}

// The whole sample as arrays, for the tests: x[ci][t], w[a][b][t], b[co].
export function sample(g) {
  const v = values(g);
  const [rows, cols] = g.transposed ? [g.cin, g.cout / g.groups] : [g.cout, g.cin / g.groups];
  const range = (n, f) => Array.from({ length: n }, (_, i) => f(i));
  return {
    x: range(g.cin, (ci) => range(product(g.sizeIn), (t) => v.x(ci, t))),
    w: range(rows, (a) => range(cols, (b) => range(product(g.k), (t) => v.w(a, b, t)))),
    b: v.b ? range(g.cout, v.b) : null,
  };
}

// -- the layer's geometry, from the calculator's checked layer and convops' output size ---------
function geometry(layer, sizeIn, values) {
  const n = layer.kind.ndim;
  const g = {
    n, transposed: layer.kind.transposed, kind: layer.kind.name,
    cin: Number(layer.in_channels), cout: Number(layer.out_channels), groups: Number(layer.groups),
    bias: layer.bias, mode: layer.padding_mode,
    k: layer.kernel_size.map(Number), s: layer.stride.map(Number), d: layer.dilation.map(Number),
    op: layer.output_padding.map(Number), sizeIn: sizeIn.map(Number),
    sizeOut: values.output_shape.slice(-n).map(Number), // convops' formula, printed at build
  };
  if (g.transposed) {
    g.p = layer.padding.map(Number);
    // Both extents are output sizes by convops' formula: where the products land before the
    // crop is this layer's output with no padding and no output_padding; the input with its
    // zeros inserted, that of a one-tap kernel too.
    const [zeros, ones] = [0n, 1n].map((v) => layer.padding.map(() => v));
    const uncropped = { ...layer, padding: zeros, output_padding: zeros };
    g.reach = outputSize(uncropped, sizeIn).map(Number);
    g.Z = outputSize({ ...uncropped, kernel_size: ones, dilation: ones }, sizeIn).map(Number);
    g.full = g.reach.map((r, i) => Math.max(r, g.p[i] + g.sizeOut[i]));
    // The gather's padding, d·(k−1) − p: what the kernel's span adds, less the crop (negative: crop).
    g.qlo = g.reach.map((r, i) => r - g.Z[i] - g.p[i]);
    g.qhi = g.qlo.map((q, i) => q + g.op[i]);
    g.z0 = g.qlo.map((q) => Math.min(0, -q));
    g.gather = g.Z.map((Z, i) => Math.max(Z, Z + g.qhi[i]) - g.z0[i]);
  } else {
    g.pads = paddingPerSide(layer).map(([lo, hi]) => [Number(lo), Number(hi)]);
    g.padded = g.sizeIn.map((L, i) => L + g.pads[i][0] + g.pads[i][1]);
  }
  return g;
}

// The extents drawn in each dimension.
function extents(g) {
  if (!g.transposed) return g.padded.map((P, i) => Math.max(P, g.sizeOut[i]));
  return g.full.map((F, i) => Math.max(F, g.gather[i], g.sizeIn[i]));
}

// The input value at padded index e of one dimension: its source index, or null for a zero.
function source(e, L, lo, mode) {
  const i = e - lo;
  if (i >= 0 && i < L) return i;
  if (mode === "zeros") return null;
  if (mode === "replicate") return Math.min(L - 1, Math.max(0, i));
  if (mode === "circular") return ((i % L) + L) % L;
  return i < 0 ? -i : 2 * (L - 1) - i; // reflect (torch refuses padding >= L)
}

const groupOf = (g, co) => Math.floor(co / (g.cout / g.groups));
const inputsOf = (g, co) => Array.from({ length: g.cin / g.groups }, (_, j) => groupOf(g, co) * (g.cin / g.groups) + j);
const kernelOf = (g, v, ci, co) => (g.transposed ? (t) => v.w(ci, co % (g.cout / g.groups), t) : (t) => v.w(co, ci % (g.cin / g.groups), t));
const biasOf = (v, co) => (v.b ? v.b(co) : 0);
// Whether the drawn output channel's values are cheap enough to compute (its filters' work).
const valued = (g) => (g.cin / g.groups) * product(g.sizeIn) * product(g.k) <= 2e6;

// -- what one filter does, position by position ---------------------------------------------------
// A convolution: output o gathers the padded input at o*s + j*d, for every tap j.
function convolution(g, v, co) {
  const taps = indices(g.k);
  const map = (ci, o) => {
    const kernel = kernelOf(g, v, ci, co);
    let sum = 0;
    for (const j of taps) {
      const at = o.map((oi, i) => source(oi * g.s[i] + j[i] * g.d[i], g.sizeIn[i], g.pads[i][0], g.mode));
      if (at.every((a) => a !== null)) sum += v.x(ci, ravel(at, g.sizeIn)) * kernel(ravel(j, g.k));
    }
    return sum;
  };
  return indices(g.sizeOut).map((o) => ({
    o, products: taps.length, additions: taps.length - 1,
    value: valued(g) ? inputsOf(g, co).reduce((a, ci) => a + map(ci, o), biasOf(v, co)) : "",
  }));
}

// A transposed convolution, scattered: input i times tap j lands on uncropped u = i*s + j*d;
// what lands outside [p, p + size_out) padding crops.
function scatter(g, v, co) {
  const count = new Array(product(g.full)).fill(0);
  const sums = new Array(product(g.full)).fill(0);
  const taps = indices(g.k);
  const inputs = indices(g.sizeIn);
  const channels = inputsOf(g, co);
  for (const ci of valued(g) ? channels : channels.slice(0, 1)) {
    const kernel = kernelOf(g, v, ci, co);
    for (const i of inputs) {
      for (const j of taps) {
        const u = ravel(i.map((ii, dim) => ii * g.s[dim] + j[dim] * g.d[dim]), g.full);
        if (ci === channels[0]) count[u] += 1;
        sums[u] += v.x(ci, ravel(i, g.sizeIn)) * kernel(ravel(j, g.k));
      }
    }
  }
  return indices(g.full).map((u) => {
    const at = ravel(u, g.full);
    const inside = u.every((ui, i) => ui >= g.p[i] && ui < g.p[i] + g.sizeOut[i]);
    const n = count[at];
    return {
      u, inside, o: u.map((ui, i) => ui - g.p[i]), products: n, additions: inside ? Math.max(n - 1, 0) : 0,
      value: valued(g) ? sums[at] + biasOf(v, co) : "", tail: u.some((ui, i) => ui >= g.reach[i]),
    };
  });
}

// The same transposed convolution as a gather: the input with s - 1 zeros inserted between its
// elements, padded by d*(k-1) - p each side (output_padding more at the end), or cropped where
// that is negative, convolved with stride 1 by the flipped kernel.
function gatherCells(g, v, ci) {
  return indices(g.gather).map((c) => {
    const z = c.map((ci2, i) => ci2 + g.z0[i]);
    const padding = z.some((zi, i) => zi < 0 || zi >= g.Z[i]);
    const trimmed = !padding && z.some((zi, i) => zi < -g.qlo[i] || zi >= g.Z[i] + g.qhi[i]);
    const inserted = !padding && z.some((zi, i) => zi % g.s[i] !== 0);
    const value = padding || inserted ? 0 : v.x(ci, ravel(z.map((zi, i) => zi / g.s[i]), g.sizeIn));
    return { c, padding, trimmed, inserted, value };
  });
}
function gather(g, v, co) {
  const taps = indices(g.k);
  const base = g.qlo.map((q, i) => -q - g.z0[i]);
  return indices(g.sizeOut).map((o) => {
    if (!valued(g)) return { o, value: "" };
    let sum = biasOf(v, co);
    for (const ci of inputsOf(g, co)) {
      const kernel = kernelOf(g, v, ci, co);
      for (const j of taps) {
        const z = o.map((oi, i) => oi + base[i] + j[i] * g.d[i] + g.z0[i]);
        if (z.some((zi, i) => zi < 0 || zi >= g.Z[i] || zi % g.s[i] !== 0)) continue;
        const flipped = j.map((ji, i) => g.k[i] - 1 - ji);
        sum += v.x(ci, ravel(z.map((zi, i) => zi / g.s[i]), g.sizeIn)) * kernel(ravel(flipped, g.k));
      }
    }
    return { o, value: sum };
  });
}

// -- drawing ----------------------------------------------------------------------------------------
// Where cell `c` of a grid of `shape` sits: 1-d a row, 2-d rows and columns, 3-d one 2-d slice
// under the other, each under a label line.
function place(c, shape) {
  if (shape.length === 1) return [c[0] * C, 0];
  if (shape.length === 2) return [c[1] * C, c[0] * C];
  return [c[2] * C, c[0] * (shape[1] * C + LABEL) + LABEL + c[1] * C];
}
function size(shape) {
  if (shape.length === 1) return [shape[0] * C, C];
  if (shape.length === 2) return [shape[1] * C, shape[0] * C];
  return [shape[2] * C, shape[0] * (shape[1] * C + LABEL)];
}

// One grid: a label, then a cell per index, in row-major order (the stepping finds a cell by its
// place); cell(c) gives {cls, attrs, text, small}.  What a cell is (padding, inserted, cropped)
// is its data-* attribute, which the stylesheet draws; a rect's size is the stylesheet's too.
function grid(name, shape, label, cell) {
  const parts = [`<g data-grid="${name}" data-shape="${shape}" transform="translate(0,0)">`,
    `<text class="cv-label" x="0" y="${LABEL - 5}">${esc(label)}</text>`];
  if (shape.length === 3) {
    for (let s = 0; s < shape[0]; s++) parts.push(`<text class="cv-label" x="0" y="${LABEL + s * (shape[1] * C + LABEL) + LABEL - 5}">depth ${s}</text>`);
  }
  for (const c of indices(shape)) {
    const { cls = "", attrs = "", text = "", small = "" } = cell(c);
    const [x, y] = place(c, shape);
    const yy = y + LABEL;
    parts.push(`<g${cls ? ` class="${cls}"` : ""}${attrs}><rect x="${x}" y="${yy}"/>`
      + (text !== "" ? `<text x="${x + C / 2}" y="${yy + C / 2 + 4}">${text}</text>` : "")
      + (small !== "" ? `<text x="${x + C - 2}" y="${yy + 7}">${small}</text>` : "") + "</g>");
  }
  parts.push("</g>");
  const [w, h] = size(shape);
  return { svg: parts.join(""), width: w, height: h + LABEL };
}

// The cells one step highlights: the walked grid's cell t, and the cells its taps reach in the
// other grid (base + position*S + j*d).  The browser's stepping calls this same function.
export function step(spec, t) {
  const at = unravel(t, spec.shape);
  const reach = indices(spec.k).map((j) => at.map((a, i) => spec.base[i] + a * spec.S[i] + j[i] * spec.d[i]).join(","));
  return { cur: at.join(","), reach };
}

function view(name, title, grids, spec, caption) {
  const width = Math.max(...grids.map((gr) => gr.width));
  let y = 0;
  const body = grids.map((gr) => {
    const svg = gr.svg.replace('transform="translate(0,0)"', `transform="translate(${(width - gr.width) / 2},${y})"`);
    y += gr.height + C / 2;
    return svg;
  }).join("");
  const H = y - C / 2 + 4;
  const id = `cv${Math.abs(hash(title + caption)).toString(36)}`;
  return `<div class="cv-view" data-view="${name}" data-spec='${JSON.stringify(spec)}'>`
    + `<svg class="cv-svg" viewBox="-2 -2 ${width + 4} ${H + 4}" width="${Math.round((width + 4) * SCALE)}" role="img" aria-label="${esc(title)}" aria-describedby="${id}" tabindex="0">`
    + `${body}</svg>`
    + `<p class="cv-caption" id="${id}">${esc(caption)}</p></div>`;
}

function hash(text) {
  let h = 0;
  for (const ch of text) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
}

function mark(cells, s) {
  const { cur, reach } = s;
  const set = new Set(reach);
  return (c) => {
    const key = c.join(",");
    return key === cur ? "cv-cur" : set.has(key) ? "cv-tap" : "";
  };
}

function convolutionView(g, v, ci, co, cells) {
  const spec = { walk: "b", shape: g.sizeOut, base: g.k.map(() => 0), S: g.s, d: g.d, k: g.k };
  const first = step(spec, 0);
  const onInput = mark(null, { cur: null, reach: first.reach });
  const onOutput = mark(null, { cur: first.cur, reach: [] });
  const padText = g.pads.some(([lo, hi]) => lo || hi)
    ? `, padded ${g.pads.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}+${hi}`)).join(", ")} (${g.mode})` : "";
  const input = grid("a", g.padded, `input channel ${ci}${padText}`, (c) => {
    const at = c.map((e, i) => source(e, g.sizeIn[i], g.pads[i][0], g.mode));
    const inside = c.every((e, i) => e >= g.pads[i][0] && e < g.pads[i][0] + g.sizeIn[i]);
    const value = at.every((a) => a !== null) ? v.x(ci, ravel(at, g.sizeIn)) : 0;
    // zeros padding is drawn blank, as conv_arithmetic draws it; a mode's copied values are written
    return { cls: onInput(c), attrs: inside ? "" : ` data-padding="${g.mode}"`, text: inside || g.mode !== "zeros" ? value : "" };
  });
  const byKey = new Map(cells.map((cell) => [cell.o.join(","), cell]));
  const output = grid("b", g.sizeOut, `output channel ${co}: ${times(g.sizeOut)}`, (c) => {
    const cell = byKey.get(c.join(","));
    return { cls: onOutput(c), attrs: ` data-position="${c}" data-products="${cell.products}" data-additions="${cell.additions}"`, text: cell.value };
  });
  const k = product(g.k);
  const caption = `Convolution: at each of the ${cells.length} output positions the ${times(g.k)} kernel (stride ${tuple(g.s)}, dilation ${tuple(g.d)}) `
    + `makes ${k} products${padText ? ", padding included," : ""} and ${k - 1} additions.`;
  return view("convolution", `Convolution of input channel ${ci} into output channel ${co}`, [input, output], spec, caption);
}

function scatterView(g, v, ci, co, cells) {
  const spec = { walk: "a", shape: g.sizeIn, base: g.k.map(() => 0), S: g.s, d: g.d, k: g.k };
  const first = step(spec, 0);
  const onInput = mark(null, { cur: first.cur, reach: [] });
  const onOutput = mark(null, { cur: null, reach: first.reach });
  const input = grid("a", g.sizeIn, `input channel ${ci}: ${times(g.sizeIn)}`, (c) => ({ cls: onInput(c), text: v.x(ci, ravel(c, g.sizeIn)) }));
  const byKey = new Map(cells.map((cell) => [cell.u.join(","), cell]));
  const output = grid("b", g.full, `output channel ${co}, before the crop: ${times(g.full)}`, (c) => {
    const cell = byKey.get(c.join(","));
    const where = cell.inside ? ` data-position="${cell.o}"` : ` data-cropped="${cell.u}"`;
    return {
      cls: onOutput(c), attrs: `${where} data-products="${cell.products}" data-additions="${cell.additions}"`,
      text: cell.inside ? cell.value : "", small: cell.products,
    };
  });
  const reached = cells.filter((c) => c.products === 0 && c.inside).length;
  const cropped = cells.filter((c) => !c.inside).reduce((a, c) => a + c.products, 0);
  const caption = `Scatter: ${product(g.sizeIn)} inputs × ${product(g.k)} taps (stride ${tuple(g.s)}, dilation ${tuple(g.d)}) land on the output `
    + `(corner: products landing there; additions one fewer); padding ${tuple(g.p)} crops ${cropped} (dashed)`
    + (g.op.some(Boolean) ? `; output_padding ${tuple(g.op)} adds the last positions` : "")
    + (reached ? `; ${reached} position${reached === 1 ? "" : "s"} no product reaches, marked 0.` : ".");
  return view("scatter", `Transposed convolution of input channel ${ci} into output channel ${co}, scattered`, [input, output], spec, caption);
}

function gatherView(g, v, ci, co, outputs) {
  const base = g.qlo.map((q, i) => -q - g.z0[i]);
  const spec = { walk: "b", shape: g.sizeOut, base, S: g.k.map(() => 1), d: g.d, k: g.k };
  const first = step(spec, 0);
  const onInput = mark(null, { cur: null, reach: first.reach });
  const onOutput = mark(null, { cur: first.cur, reach: [] });
  const crops = g.qlo.some((q) => q < 0) || g.qhi.some((q) => q < 0);
  const zeroInserted = new Map(gatherCells(g, v, ci).map((x) => [x.c.join(","), x]));
  const input = grid("a", g.gather, `input channel ${ci}, zeros inserted, ${crops ? "cropped" : "padded"}`, (c) => {
    const cell = zeroInserted.get(c.join(","));
    const attrs = (cell.padding ? ' data-padding="zeros"' : "") + (cell.inserted ? " data-inserted" : "") + (cell.trimmed ? " data-trimmed" : "");
    return { cls: onInput(c), attrs, text: cell.padding || cell.inserted ? "" : cell.value }; // zeros blank
  });
  const byKey = new Map(outputs.map((cell) => [cell.o.join(","), cell]));
  const output = grid("b", g.sizeOut, `output channel ${co}: ${times(g.sizeOut)}`, (c) => ({ cls: onOutput(c), text: byKey.get(c.join(",")).value }));
  const pad = g.qlo.map((q, i) => (q === g.qhi[i] ? `${q}` : `${q}+${g.qhi[i]}`)).join(", ");
  const caption = `Gather: ${g.s.some((s) => s > 1) ? `stride − 1 zeros inserted (dotted), ` : ""}padding d·(k−1) − p${g.op.some(Boolean) ? " (+ output_padding at the end)" : ""} = ${pad}`
    + `${crops ? " (negative: the gather crops, dashed)" : ""}; the flipped kernel slides with stride 1: ${product(g.k)} products per position, zeros included, the same output.`;
  return view("gather", `Transposed convolution of input channel ${ci} into output channel ${co}, gathered`, [input, output], spec, caption);
}

// The channels: a dot per input and output channel, a line per filter (ψ of them, block-diagonal
// by group); the lines into the drawn output channel are the maps γ adds up.
function channels(g, ci, co) {
  if (g.cin > MAX_CHANNELS || g.cout > MAX_CHANNELS) return { svg: "", links: null };
  const draw = g.cin > 1 || g.cout > 1; // one line between two dots says nothing: counted, not drawn
  const gap = 24;
  const width = Math.max(g.cin, g.cout) * gap;
  const xin = (i) => (width - g.cin * gap) / 2 + gap * (i + 0.5);
  const xout = (o) => (width - g.cout * gap) / 2 + gap * (o + 0.5);
  const parts = [];
  let links = 0;
  for (let i = 0; i < g.cin; i++) {
    for (let o = 0; o < g.cout; o++) {
      if (Math.floor(i / (g.cin / g.groups)) !== groupOf(g, o)) continue;
      links += 1;
      const cls = i === ci && o === co ? "cv-link cv-drawn" : o === co ? "cv-link cv-sum" : "cv-link";
      parts.push(`<line class="${cls}" data-link="${i},${o}" x1="${xin(i)}" y1="${LABEL + 8}" x2="${xout(o)}" y2="${LABEL + 62}"/>`);
    }
  }
  for (let i = 0; i < g.cin; i++) parts.push(`<circle class="cv-dot" cx="${xin(i)}" cy="${LABEL + 8}" r="5"/>`);
  for (let o = 0; o < g.cout; o++) parts.push(`<circle class="cv-dot${o === co ? " cv-cur" : ""}" cx="${xout(o)}" cy="${LABEL + 62}" r="5"/>`);
  const labelled = `<text class="cv-label" x="0" y="${LABEL - 5}">${g.cin} input channels</text><text class="cv-label" x="0" y="${LABEL + 84}">${g.cout} output channels, groups=${g.groups}</text>`;
  const svg = !draw ? "" : `<svg class="cv-svg cv-links" viewBox="-2 -2 ${Math.max(width, 200) + 4} ${LABEL + 92}" width="${Math.max(width, 200) + 4}" role="img" aria-label="${links} filters link input to output channels, ${g.groups} block${g.groups === 1 ? "" : "s"}">${labelled}${parts.join("")}</svg>`;
  return { svg, links };
}

// -- the picture --------------------------------------------------------------------------------
// The largest input, no larger than the reader's, whose picture fits (the layer unchanged).
function fitted(layerText, out) {
  const g = geometry(out.layer, out.values.output_shape ? sizeInOf(out) : [], out.values);
  const limits = LIMITS[g.n];
  if (extents(g).every((e, i) => e <= limits[i])) return { out, fitted: false };
  const sizes = [...g.sizeIn];
  for (let dim = 0; dim < g.n; dim++) {
    let best = null;
    for (let L = Math.min(sizes[dim], limits[dim]); L >= 1; L--) {
      const trial = sizes.map((s, i) => (i === dim ? L : Math.min(s, limits[i])));
      const next = compute(layerText, `1, ${g.cin}, ${trial.join(", ")}`);
      if (next.refusal) continue;
      const e = extents(geometry(next.layer, trial.map(BigInt), next.values));
      if (e[dim] <= limits[dim]) { best = L; break; }
    }
    if (best === null) return { out: null };
    sizes[dim] = best;
  }
  const next = compute(layerText, `1, ${g.cin}, ${sizes.join(", ")}`);
  if (next.refusal || !extents(geometry(next.layer, sizes.map(BigInt), next.values)).every((e, i) => e <= limits[i])) return { out: null };
  return { out: next, fitted: true };
}

function sizeInOf(out) {
  return out.shape.values.slice(-out.layer.kind.ndim);
}

// The picture of a layer (its text, as the calculator reads it) on an input shape: HTML with one
// SVG per view, or a short note when even the smallest input gives a picture too large to draw.
export function picture(layerText, shapeText, { filter = [0, 0], caption = "", gather: withGather = true } = {}) {
  const first = compute(layerText, shapeText);
  if (first.refusal) return `<p class="cv-note" data-picture-refused>${esc(first.refusal.message)}</p>`;
  const { out, fitted: wasFitted } = fitted(layerText, first);
  if (!out) return `<p class="cv-note" data-picture-too-large>This layer's kernel spans more cells than a picture can show legibly, on any input.</p>`;
  const sizeIn = sizeInOf(out);
  const g = geometry(out.layer, sizeIn, out.values);
  const [ci, co] = filter;
  const v = values(g);
  const views = [];
  let positions;
  if (g.transposed) {
    positions = scatter(g, v, co);
    views.push(scatterView(g, v, ci, co, positions));
    if (withGather) views.push(gatherView(g, v, ci, co, gather(g, v, co)));
  } else {
    positions = convolution(g, v, co);
    views.push(convolutionView(g, v, ci, co, positions));
  }
  const products = positions.reduce((a, c) => a + c.products, 0);
  const additions = positions.reduce((a, c) => a + c.additions, 0);
  const links = channels(g, ci, co);
  const maps = g.cin / g.groups;
  const drawnShape = `1, ${g.cin}, ${g.sizeIn.join(", ")}`;
  const { psi, lam, gamma, total } = out.values;
  const lines = [];
  const fittedNote = wasFitted ? `<p class="cv-note cv-fitted">Drawn on the input (${esc(drawnShape)}), the largest that fits the picture; your input is (${esc(shapeText)}): the same kernel, stride, dilation, padding${g.transposed ? " and output_padding" : ""}.</p>` : "";
  lines.push(`This filter: ${products} products and ${additions} additions, λ = ${products + additions} (convops: λ = ${lam}).`);
  lines.push(`The layer: ψ = ${psi} filter${psi === 1n ? "" : "s"}${links.svg ? ` (the ${links.links} lines)` : ""}; each output value adds its ${maps} filter map${maps === 1 ? "" : "s"}${g.bias ? " and the bias" : ""}: γ = ${gamma}; ψ·λ + γ = ${total}.`);
  lines.push(valued(g) ? `Each output value drawn is the layer's output there (torch's), with inputs 0…3, weights −1…2${g.bias ? ", bias −2…2" : ""}.`
    : `Output values are not drawn: each adds ${maps} filter maps, too many to compute here.`);
  return `<figure class="cv-pic" data-picture data-layer="${esc(layerText)}" data-input="${esc(drawnShape)}" data-filter="${ci},${co}"`
    + ` data-kind="${g.kind}" data-psi="${psi}" data-lam="${lam}" data-gamma="${gamma}" data-tally-products="${products}" data-tally-additions="${additions}"`
    + `${links.links !== null ? ` data-links="${links.links}"` : ""}${wasFitted ? ` data-fitted="${esc(shapeText)}"` : ""}>`
    + (caption ? `<figcaption>${caption}</figcaption>` : "") + fittedNote
    + views.join("") + links.svg
    + `<p class="cv-caption">${lines.map(esc).join(" ")}</p></figure>`;
}

// The sample a picture draws, for the tests: {x, w, b} and the drawn input size.
export function pictureSample(layerText, shapeText) {
  const first = compute(layerText, shapeText);
  const { out } = first.refusal ? {} : fitted(layerText, first);
  if (!out) return null;
  const sizeIn = sizeInOf(out);
  const g = geometry(out.layer, sizeIn, out.values);
  return { ...sample(g), sizeIn: g.sizeIn };
}

// -- stepping, in the browser ---------------------------------------------------------------------
const reduced = () => globalThis.matchMedia?.("(prefers-reduced-motion: reduce)").matches;

function wireView(root) {
  if (root.dataset.wired) return;
  root.dataset.wired = "1";
  const spec = JSON.parse(root.dataset.spec);
  const cells = (name) => {
    const box = root.querySelector(`[data-grid=${name}]`);
    const shape = box.dataset.shape.split(",").map(Number);
    return new Map([...box.querySelectorAll(":scope > g")].map((e, t) => [unravel(t, shape).join(","), e]));
  };
  const walked = cells(spec.walk);
  const reached = cells(spec.walk === "a" ? "b" : "a");
  const steps = walked.size;
  // The controls: made here, since without JavaScript there is nothing to step.
  const controls = document.createElement("div");
  controls.className = "cv-steps";
  controls.innerHTML = `<button type="button" data-move="-1" aria-label="previous position">◀</button>`
    + `<input type="range" min="0" max="${steps - 1}" value="0" aria-label="${root.querySelector("svg").getAttribute("aria-label")}: position">`
    + `<button type="button" data-move="1" aria-label="next position">▶</button>`
    + `<button type="button" class="cv-play">▷ play</button><output aria-live="polite"></output>`;
  root.querySelector("svg").after(controls);
  const slider = controls.querySelector("input");
  const output = controls.querySelector("output");
  const play = controls.querySelector(".cv-play");
  let at = 0;
  let timer = null;
  const show = (t) => {
    at = (t + steps) % steps;
    root.querySelectorAll(".cv-cur, .cv-tap").forEach((e) => e.classList.remove("cv-cur", "cv-tap"));
    const { cur, reach } = step(spec, at);
    const current = walked.get(cur);
    current?.classList.add("cv-cur");
    for (const key of reach) reached.get(key)?.classList.add("cv-tap");
    slider.value = at;
    const d = current?.dataset ?? {};
    const value = current?.querySelector("text")?.textContent;
    const where = tuple(cur.split(",")); // Python's (0,) in one dimension: never a formula's (0)
    output.textContent = d.position !== undefined
      ? `output ${where}: ${d.products} products, ${d.additions} additions, value ${value}`
      : spec.walk === "b" ? `output ${where}: value ${value}` : `input ${where}, value ${value}: its ${reach.length} products land on the marked cells`;
  };
  controls.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button === play) {
      if (timer) { clearInterval(timer); timer = null; play.textContent = "▷ play"; return; }
      play.textContent = "❚❚ pause";
      timer = setInterval(() => show(at + 1), 700);
      return;
    }
    show(at + Number(button.dataset.move));
  });
  play.hidden = reduced();
  slider.addEventListener("input", () => show(Number(slider.value)));
  root.querySelector("svg").addEventListener("keydown", (event) => {
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in moves) show(at + moves[event.key]);
    else if (event.key === "Home") show(0);
    else if (event.key === "End") show(steps - 1);
    else return;
    event.preventDefault();
  });
  show(0);
}

export function wirePictures(scope = document) {
  scope.querySelectorAll(".cv-view").forEach(wireView);
}

// The calculator's picture of the reader's layer (the Calculator page only): called by
// calculator.js each time it evaluates.
export function calculatorPicture(root, out, layerText, shapeText) {
  if (root.dataset.permalink !== "true") return;
  let box = root.querySelector(".convops-calc-picture");
  if (!box) {
    box = document.createElement("div");
    box.className = "convops-calc-picture";
    root.querySelector(".convops-calc-results").after(box);
  }
  box.innerHTML = out.refusal ? "" : picture(layerText, shapeText);
  wirePictures(box);
}

globalThis.document$?.subscribe(() => wirePictures(document));
