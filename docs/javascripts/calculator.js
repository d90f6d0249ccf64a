// The calculator: a layer and an input shape in, convops' exact counts out, in BigInt.
//
// Every formula comes from ../assets/convops/formulas.js, printed at site build from the
// expressions convops.count compiles (notebooks/convops_book/calculator.py). What is written by
// hand here mirrors convops, one function at a time (each names the Python it mirrors):
// reading the layer (convops.layer.Layer.parse), the checks behind a refusal (convops.layer.check,
// check_input, check_padding_mode, check_output), 'same' padding per side, the choice of
// gradients and the fold (convops.count._backward_breakdown), and the page's wiring.
// tests/site/test_site_calculator.py checks every value and refusal against convops in Python.

import { calculatorPicture } from "./picture.js";

// The generated module, loaded on the first page that shows a calculator.
let kinds, defaults, version, fastTables, DEFAULTS;
export async function load() {
  if (kinds) return;
  ({ kinds, defaults, version, fastTables } = await import("../assets/convops/formulas.js"));
  // Layer.create's defaults, printed at build as Python literals: read as the layer's text is.
  DEFAULTS = Object.fromEntries(Object.entries(defaults).map(([name, text]) => [name, literal(tokenize(text), 0).value]));
}

// A refusal: convops.errors.ConvopsError, with the parameter its message names first.
class Refusal extends Error {
  constructor(parameter, message) {
    super(message);
    this.parameter = parameter;
  }
}

// -- Python values ----------------------------------------------------------------------------
// Literals are {t: "int", v: BigInt} | {t: "bool", v} | {t: "str", v} | {t: "tuple" | "list",
// items}; anything else literal_eval reads (None, floats, nested tuples) is {t: "other"}.
const int = (v) => ({ t: "int", v: BigInt(v) });
const isInt = (x) => x.t === "int"; // mirrors convops.layer._is_int: not bool
const isSeq = (x) => x.t === "tuple" || x.t === "list";

function repr(x) {
  switch (x.t) {
    case "int": return x.v.toString();
    case "bool": return x.v ? "True" : "False";
    case "str": return `'${x.v}'`;
    case "tuple": return x.items.length === 1 ? `(${repr(x.items[0])},)` : `(${x.items.map(repr).join(", ")})`;
    case "list": return `[${x.items.map(repr).join(", ")}]`;
    default: return x.text ?? "?";
  }
}

// -- reading the layer: mirrors convops.layer.Layer.parse ------------------------------------
// One token per match; the group that matched says its type (TYPES, in the groups' order).
const TOKEN = new RegExp([
  String.raw`(\s+)`,
  String.raw`(0[xXoObB][\da-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)`,
  String.raw`([rRbBuUfF]{0,2}(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))`,
  String.raw`([A-Za-z_]\w*)`,
  String.raw`(\*\*|==|[()[\]{},=.:+\-*/%<>@~^&|!])`,
].join("|"), "y");
const TYPES = [null, "space", "number", "string", "name", "op"];

function tokenize(text) {
  const tokens = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new Refusal("layer", `cannot parse the module: unexpected character ${JSON.stringify(text[at])}`);
    let group = 1;
    while (m[group] === undefined) group++;
    if (group > 1) tokens.push({ type: TYPES[group], value: m[group] });
  }
  return tokens;
}

// The value of an integer token as Python reads it (underscores between digits; no leading 0s).
function integer(text) {
  const digits = text.replace(/_/g, "");
  if (/^0[xXoObB]/.test(text)) return /^0[xX][\da-fA-F]+$|^0[oO][0-7]+$|^0[bB][01]+$/.test(digits) ? BigInt(digits) : null;
  if (!/^\d+$/.test(digits) || /^0\d*[1-9]/.test(digits) || /__|_$/.test(text)) return null;
  return BigInt(digits);
}

const OPEN = { "(": ")", "[": "]", "{": "}" };

// Split tokens[from..) at top-level commas up to the bracket closing at `close`; checks balance.
function splitArguments(tokens, from) {
  const args = [[]];
  const stack = [];
  for (let i = from; i < tokens.length; i++) {
    const { type, value } = tokens[i];
    if (type === "op" && OPEN[value]) stack.push(OPEN[value]);
    else if (type === "op" && Object.values(OPEN).includes(value)) {
      if (stack.length === 0) {
        if (value !== ")") break;
        return { args: args.at(-1).length ? args : args.slice(0, -1), end: i + 1 };
      }
      if (stack.pop() !== value) break;
    } else if (type === "op" && value === "," && stack.length === 0) {
      if (args.at(-1).length === 0) break;
      args.push([]);
      continue;
    }
    args.at(-1).push(tokens[i]);
  }
  throw new Refusal("layer", "cannot parse the module: invalid syntax");
}

// One literal from tokens[i..): mirrors ast.literal_eval on what Layer.parse accepts.
function literal(tokens, i) {
  const tok = tokens[i];
  if (!tok) return null;
  if (tok.type === "op" && (tok.value === "-" || tok.value === "+")) {
    const next = tokens[i + 1];
    if (next?.type !== "number") return null;
    const v = integer(next.value);
    return v === null ? { value: { t: "other", text: tok.value + next.value }, end: i + 2 }
      : { value: int(tok.value === "-" ? -v : v), end: i + 2 };
  }
  if (tok.type === "number") {
    const v = integer(tok.value);
    return { value: v === null ? { t: "other", text: tok.value } : int(v), end: i + 1 };
  }
  if (tok.type === "string") {
    let text = "";
    let j = i;
    let plain = true;
    for (; tokens[j]?.type === "string"; j++) {
      const prefix = tokens[j].value.match(/^[a-zA-Z]*/)[0].toLowerCase();
      plain &&= prefix === "" || prefix === "r" || prefix === "u";
      text += tokens[j].value.slice(prefix.length + 1, -1);
    }
    return { value: plain ? { t: "str", v: text } : { t: "other", text }, end: j };
  }
  if (tok.type === "name" && ["True", "False", "None"].includes(tok.value)) {
    return { value: tok.value === "None" ? { t: "other", text: "None" } : { t: "bool", v: tok.value === "True" }, end: i + 1 };
  }
  if (tok.type === "op" && (tok.value === "(" || tok.value === "[")) {
    const close = OPEN[tok.value];
    const items = [];
    let j = i + 1;
    let comma = false;
    while (!(tokens[j]?.type === "op" && tokens[j].value === close)) {
      const item = literal(tokens, j);
      if (!item) return null;
      items.push(item.value);
      j = item.end;
      if (tokens[j]?.type === "op" && tokens[j].value === ",") { comma = true; j++; }
      else if (!(tokens[j]?.type === "op" && tokens[j].value === close)) return null;
    }
    if (tok.value === "(" && items.length === 1 && !comma) return { value: items[0], end: j + 1 };
    return { value: { t: tok.value === "(" ? "tuple" : "list", items }, end: j + 1 };
  }
  return null;
}

// mirrors convops.layer._literal: an int, str or bool, or a tuple/list of them.
function literalArgument(tokens, where) {
  const parsed = literal(tokens, 0);
  if (parsed && parsed.end === tokens.length) {
    const { value } = parsed;
    const items = isSeq(value) ? value.items : [value];
    if (items.every((x) => x.t === "int" || x.t === "bool" || x.t === "str")) return value;
  }
  const text = tokens.map((t) => t.value).join(" ");
  throw new Refusal(where, `${where} must be a literal (an int, string, True/False, or a tuple of ints), got '${text}'`);
}

// mirrors convops.layer.Layer.parse
export function parseLayer(spec) {
  const tokens = tokenize(spec.trim());
  const kindNames = Object.keys(kinds).join(", ");
  const notACall = () => new Refusal("layer", `the module must be a call of one of ${kindNames} (optionally nn.… or torch.nn.…) with literal arguments, got '${spec}'`);
  let i = 0;
  const path = [];
  while (tokens[i]?.type === "name") {
    path.push(tokens[i++].value);
    if (tokens[i]?.type === "op" && tokens[i].value === ".") i++;
    else break;
  }
  if (!(tokens[i]?.type === "op" && tokens[i].value === "(")) {
    if (path.length && i === tokens.length) throw notACall();
    throw new Refusal("layer", "cannot parse the module: invalid syntax");
  }
  const { args, end } = splitArguments(tokens, i + 1);
  if (end !== tokens.length) throw new Refusal("layer", "cannot parse the module: invalid syntax");
  const positional = [];
  const keywords = [];
  for (const arg of args) {
    const named = arg.length > 1 && arg[0].type === "name" && arg[1].type === "op" && arg[1].value === "=";
    if (named) {
      if (arg.length === 2) throw new Refusal("layer", "cannot parse the module: invalid syntax");
      keywords.push([arg[0].value, arg.slice(2)]);
    } else {
      if (keywords.length && !(arg[0].value === "*" || arg[0].value === "**")) throw new Refusal("layer", "cannot parse the module: positional argument follows keyword argument");
      positional.push(arg);
    }
  }
  const prefix = path.slice(0, -1).join(".");
  if (!(path.at(-1) in kinds) || !["", "nn", "torch.nn"].includes(prefix)) throw notACall();
  if ([...positional, ...keywords.map(([, v]) => v)].some((a) => a[0].value === "*" || a[0].value === "**")) {
    throw new Refusal("layer", "argument unpacking (* or **) is not accepted: write the arguments out");
  }
  const name = path.at(-1);
  const kind = { name, ...kinds[name] };
  const values = positional.map((a, j) => literalArgument(a, `argument ${j + 1}`));
  // a keyword given twice: ast.parse takes it, and the dict Layer.parse builds keeps the last
  const named = Object.entries(Object.fromEntries(keywords.map(([k, v]) => [k, literalArgument(v, k)])));
  // inspect.Signature.bind, on torch's signature printed at build
  const parameters = kind.signature;
  if (values.length > parameters.length) throw new Refusal("layer", `${name}: too many positional arguments`);
  const bound = Object.fromEntries(values.map((v, j) => [parameters[j], v]));
  for (const [k, v] of named) {
    if (!parameters.includes(k)) throw new Refusal("layer", `${name}: got an unexpected keyword argument '${k}'`);
    if (k in bound) throw new Refusal("layer", `${name}: multiple values for argument '${k}'`);
    bound[k] = v;
  }
  for (const required of kind.required) {
    if (!(required in bound)) throw new Refusal("layer", `${name}: missing a required argument: '${required}'`);
  }
  return createLayer(kind, bound);
}

// mirrors convops.layer._tuple
function toTuple(name, value, ndim) {
  if (isInt(value)) return { t: "tuple", items: Array(ndim).fill(value) };
  if (isSeq(value)) return { t: "tuple", items: value.items };
  if (value.t === "str") return { t: "tuple", items: [...value.v].map((c) => ({ t: "str", v: c })) };
  throw new Refusal(name, `${name}=${repr(value)} must be an int or a sequence of ${ndim} ints`);
}

// mirrors convops.layer.Layer.create
function createLayer(kind, bound) {
  const a = { ...DEFAULTS, ...bound };
  const n = kind.ndim;
  const layer = {
    kind, in_channels: a.in_channels, out_channels: a.out_channels,
    kernel_size: toTuple("kernel_size", a.kernel_size, n), stride: toTuple("stride", a.stride, n),
    padding: a.padding.t === "str" ? a.padding : toTuple("padding", a.padding, n),
    dilation: toTuple("dilation", a.dilation, n), groups: a.groups, bias: a.bias,
    padding_mode: a.padding_mode, output_padding: toTuple("output_padding", a.output_padding, n),
  };
  return check(layer);
}

// mirrors convops.layer._check_ints
function checkInts(name, value, ndim, minimum) {
  if (!(value.t === "tuple" && value.items.length === ndim && value.items.every((x) => isInt(x) && x.v >= minimum))) {
    const sign = minimum === 1n ? "positive" : "non-negative";
    throw new Refusal(name, `${name}=${repr(value)} must be ${ndim} ${sign} int(s), one per spatial dimension`);
  }
  return value.items.map((x) => x.v);
}

const PADDING_MODES = ["zeros", "reflect", "replicate", "circular"];

// mirrors convops.layer.check; returns the layer with plain BigInts and arrays of them.
export function check(layer) {
  const { kind } = layer;
  const n = kind.ndim;
  for (const name of ["in_channels", "out_channels", "groups"]) {
    if (!isInt(layer[name]) || layer[name].v < 1n) throw new Refusal(name, `${name}=${repr(layer[name])} must be a positive int`);
  }
  for (const name of ["in_channels", "out_channels"]) {
    if (layer[name].v % layer.groups.v) throw new Refusal("groups", `groups=${layer.groups.v} must divide ${name}=${layer[name].v}`);
  }
  const kernel = checkInts("kernel_size", layer.kernel_size, n, 1n);
  const stride = checkInts("stride", layer.stride, n, 1n);
  const dilation = checkInts("dilation", layer.dilation, n, 1n);
  let { padding } = layer;
  if (padding.t === "tuple" && padding.items.length && padding.items.every((c) => c.t === "str")) {
    padding = { t: "str", v: padding.items.map((c) => c.v).join("") }; // as torch's transposed modules store 'same'
  }
  if (padding.t === "str") {
    if (kind.transposed || !["same", "valid"].includes(padding.v)) {
      const allowed = kind.transposed ? "non-negative ints" : "'same', 'valid' or non-negative ints";
      throw new Refusal("padding", `padding=${repr(padding)}: ${kind.name} accepts ${allowed}`);
    }
    if (padding.v === "same" && stride.some((s) => s !== 1n)) throw new Refusal("padding", `padding='same' needs stride 1, got stride=(${stride.join(", ")})`);
    padding = padding.v;
  } else {
    padding = checkInts("padding", padding, n, 0n);
  }
  if (layer.bias.t !== "bool") throw new Refusal("bias", `bias=${repr(layer.bias)} must be True or False`);
  const modes = kind.transposed ? ["zeros"] : PADDING_MODES;
  if (!(layer.padding_mode.t === "str" && modes.includes(layer.padding_mode.v))) {
    throw new Refusal("padding_mode", `padding_mode=${repr(layer.padding_mode)}: ${kind.name} accepts ${modes.map((m) => `'${m}'`).join(", ")}`);
  }
  const outputPadding = checkInts("output_padding", layer.output_padding, n, 0n);
  if (outputPadding.some((q, i) => q >= (stride[i] > dilation[i] ? stride[i] : dilation[i]))) {
    throw new Refusal("output_padding", `output_padding=(${outputPadding.join(", ")}) must be smaller than stride or dilation in every dimension`);
  }
  return {
    kind, in_channels: layer.in_channels.v, out_channels: layer.out_channels.v, kernel_size: kernel,
    stride, padding, dilation, groups: layer.groups.v, bias: layer.bias.v,
    padding_mode: layer.padding_mode.v, output_padding: outputPadding,
  };
}

// mirrors convops.layer.Layer.padding_per_side
export function paddingPerSide(layer) {
  if (layer.padding === "valid") return layer.kernel_size.map(() => [0n, 0n]);
  if (layer.padding === "same") {
    // torch pads d*(k-1) in all; an odd total puts the extra element after.
    return layer.kernel_size.map((k, i) => {
      const total = layer.dilation[i] * (k - 1n);
      return [total / 2n, total - total / 2n];
    });
  }
  return layer.padding.map((p) => [p, p]);
}

// The input shape's text: ints separated by commas, spaces or x, in optional brackets.
export function parseShape(text) {
  const inner = text.trim().replace(/^[([]\s*|\s*[)\]]$/g, "");
  const parts = inner.split(/\s*[,x×]\s*|\s+/).filter((p) => p !== "");
  const values = parts.map((p) => (/^[+-]?\d+$/.test(p) ? BigInt(p) : null));
  return { text, values };
}

// mirrors convops.layer.check_input
function checkInput(layer, shape) {
  const n = layer.kind.ndim;
  const refuse = (why) => new Refusal("input_shape", `input_shape=(${shape.text}): ${why}`);
  const values = shape.values;
  if (!(values.length === n + 1 || values.length === n + 2) || values.includes(null)) {
    throw refuse(`${layer.kind.name} takes ${n + 1} ints (C_in, *spatial) or ${n + 2} (N, C_in, *spatial)`);
  }
  const [batch, channels, ...sizeIn] = values.length === n + 2 ? values : [1n, ...values];
  if (batch < 0n) throw refuse(`batch size ${batch} must not be negative`);
  if (channels !== layer.in_channels) throw refuse(`has ${channels} channel${channels === 1n ? "" : "s"}; in_channels=${layer.in_channels}`);
  if (sizeIn.some((L) => L < 1n)) throw refuse("spatial sizes must be positive");
  return { batch, sizeIn };
}

// mirrors convops.layer.smallest_input
function smallestInput(layer) {
  const pads = paddingPerSide(layer).map(([a, b]) => (a > b ? a : b));
  if (layer.padding_mode === "reflect") return pads.map((p) => p + 1n);
  if (layer.padding_mode === "circular") return pads.map((p) => (p > 1n ? p : 1n));
  return pads.map(() => 1n);
}

// mirrors convops.layer.check_padding_mode
function checkPaddingMode(layer, sizeIn) {
  const least = smallestInput(layer);
  const pads = paddingPerSide(layer);
  sizeIn.forEach((size, i) => {
    if (size < least[i]) {
      const limit = layer.padding_mode === "reflect" ? "smaller than" : "at most";
      throw new Refusal("padding_mode", `padding (${pads[i].join(", ")}) with padding_mode='${layer.padding_mode}' must be ${limit} the input size ${size} of its dimension`);
    }
  });
}

// mirrors convops.layer.check_output
function checkOutput(layer, shape, sizeOut) {
  if (sizeOut.some((L) => L < 1n)) {
    throw new Refusal("output_size", `${layer.kind.name} gives output size (${sizeOut.join(", ")}) for input_shape=(${shape.text}); every output size must be at least 1`);
  }
}

// mirrors convops.count._parameters
function parameters(layer) {
  const padding = layer.kind.transposed ? layer.padding : paddingPerSide(layer).map(([a, b]) => a + b);
  return [layer.in_channels, layer.out_channels, layer.groups, layer.bias ? 1n : 0n,
    ...layer.kernel_size, ...layer.stride, ...layer.dilation, ...padding, ...layer.output_padding];
}

// The output sizes convops' formula gives a checked layer (or one with parameters changed) on
// the spatial sizes sizeIn: the last of the forward's values.
export function outputSize(layer, sizeIn) {
  return layer.kind.forward(1n, ...sizeIn, ...parameters(layer)).slice(-layer.kind.ndim);
}

const QUANTITIES = ["psi", "lam", "gamma", "multiplications", "additions", "total", "A"];

// mirrors convops.count._evaluate and breakdown: the forward's Breakdown as {name: BigInt}.
function forward(layer, shape) {
  const { batch, sizeIn } = checkInput(layer, shape);
  const n = layer.kind.ndim;
  const values = layer.kind.forward(batch, ...sizeIn, ...parameters(layer));
  const sizeOut = values.slice(-n);
  const least = sizeOut.reduce((a, b) => (b < a ? b : a));
  if (least < 1n || layer.padding_mode !== "zeros") {
    // torch gives an empty tensor for an empty batch through a transposed layer whose output
    // is empty; a convolution's output that small it refuses at any batch size.
    if (!(layer.kind.transposed && batch === 0n && least === 0n)) checkOutput(layer, shape, sizeOut);
    checkPaddingMode(layer, sizeIn);
  }
  const result = Object.fromEntries(QUANTITIES.map((q, i) => [q, values[i]]));
  if (!layer.kind.transposed) delete result.A;
  const leading = shape.values.slice(0, shape.values.length - n - 1);
  result.output_shape = [...leading, layer.out_channels, ...sizeOut];
  result.batch = batch;
  result.macs = result.multiplications;
  result.flops = 2n * result.multiplications;
  return { result, batch, sizeIn };
}

export const GRADIENTS = ["input", "weight", "bias"];

// mirrors convops.count._backward_breakdown: the BackwardBreakdown of the gradients chosen.
function backward(layer, batch, sizeIn, chosen) {
  const n = layer.kind.ndim;
  let params = parameters(layer);
  let fold = 0n;
  if (!layer.kind.transposed) {
    let pads = paddingPerSide(layer);
    if (layer.padding_mode !== "zeros") { // the unpadded convolution of the padded input
      const totals = pads.map(([a, b]) => a + b);
      fold = layer.kind.fold(batch, ...sizeIn, layer.in_channels, ...totals);
      sizeIn = sizeIn.map((L, i) => L + totals[i]);
      pads = pads.map(() => [0n, 0n]);
    }
    params = [...params.slice(0, 4 + 3 * n), ...pads.map(([a, b]) => a + b), ...pads.map(([a]) => a)];
  }
  const counts = batch ? layer.kind.backward(batch, ...sizeIn, ...params) : Array(6).fill(0n);
  counts[1] += fold; // grad_input's additions
  const result = {};
  let multiplications = 0n;
  let additions = 0n;
  GRADIENTS.forEach((g, i) => {
    if (!chosen.includes(g)) return;
    result[`grad_${g}.multiplications`] = counts[2 * i];
    result[`grad_${g}.additions`] = counts[2 * i + 1];
    if (g === "input") result.fold = fold;
    multiplications += counts[2 * i];
    additions += counts[2 * i + 1];
  });
  result.fold ??= 0n; // BackwardBreakdown.fold: 0 unless grad_input is computed
  Object.assign(result, {
    "backward.multiplications": multiplications, "backward.additions": additions,
    "backward.total": multiplications + additions, "backward.flops": 2n * multiplications,
  });
  return result;
}

// mirrors convops.algorithms.check_algorithm and algorithm_breakdown: {stage:multiplications, …}.
function fast(layer, result, algorithm, tileText) {
  const n = layer.kind.ndim, k = layer.kernel_size, sizeOut = result.output_shape.slice(-n), named = `algorithm='${algorithm}'`;
  if (layer.kind.transposed) throw new Refusal("algorithm", `${named} counts convolutions; ${layer.kind.name} runs as GEMM + col2im, not counted here: use algorithm='direct'`);
  let tile = tileText.trim() ? tileText.split(",").map((t) => (/^\s*\d+\s*$/.test(t) ? BigInt(t) : 0n)) : null;
  if (algorithm === "im2col" && tile) throw new Refusal("tile", `tile=${tileText}: im2col has no tile; leave it out`);
  for (const p of algorithm === "im2col" ? [] : ["stride", "dilation"]) {
    if (layer[p].some((v) => v !== 1n)) throw new Refusal("algorithm", `${named} computes stride-1, dilation-1 convolutions (its tiles slide by their own size); this layer has ${p}=(${layer[p].join(", ")}): use algorithm='direct' or 'im2col'`);
  }
  if (tile?.length === 1) tile = Array(n).fill(tile[0]);
  if (tile && (tile.length !== n || tile.some((t) => t < 1n))) throw new Refusal("tile", `tile=${tileText} must be a positive int or ${n} of them, one per dimension`);
  if (algorithm.startsWith("fft") && tile?.some((t, i) => (t & (t - 1n)) || t < k[i])) throw new Refusal("tile", `tile=${tileText}: the FFT size must be a power of two at least the kernel size (${k.join(", ")})`);
  let extra = [];
  if (algorithm === "winograd") {
    tile ??= Array(n).fill(BigInt(fastTables.winogradTile));
    const costs = tile.map((m, i) => fastTables.winograd[`${m},${k[i]}`]);
    if (costs.includes(undefined)) throw new Refusal("tile", `tile=${tileText}: F(m, r) needs m + r - 2 interpolation points, more than convops' defaults: choose a smaller tile`);
    extra = [...tile, ...[0, 1, 2].flatMap((t) => costs.flatMap((c) => c[t]).map(BigInt))];
  } else if (algorithm.startsWith("fft")) { // mirrors convops.algorithms.whole_input_fft
    tile ??= sizeOut.map((L, i) => 1n << BigInt((L + k[i] - 2n).toString(2).length));
    const costs = tile.map((a) => fastTables.fft[a]);
    if (costs.includes(undefined)) throw new Refusal("tile", "the calculator holds FFT sizes up to 2**24: count larger ones with convops.breakdown");
    extra = [...tile, ...costs.flat().map(BigInt)];
  }
  const { stages, count } = layer.kind.algorithms[algorithm];
  const counts = result.batch ? count(result.batch, layer.in_channels, layer.out_channels, layer.groups, layer.bias ? 1n : 0n, ...k, ...sizeOut, ...extra) : Array(2 * stages.length + 1).fill(0n);
  const values = { output_shape: result.output_shape, batch: result.batch, multiplications: 0n, additions: 0n };
  stages.forEach((stage, i) => {
    [values[`${stage}:multiplications`], values[`${stage}:additions`]] = counts.slice(2 * i, 2 * i + 2);
    values.multiplications += counts[2 * i];
    values.additions += counts[2 * i + 1];
  });
  values.total = values.multiplications + values.additions;
  if (algorithm === "im2col") values.workspace = counts.at(-1);
  return values;
}

// Every count of a layer's text and an input shape's text: {layer, values} or {refusal}.
export function compute(layerText, shapeText, withBackward = false, chosen = GRADIENTS, algorithm = "direct", tile = "") {
  try {
    const layer = parseLayer(layerText);
    const shape = parseShape(shapeText);
    const { result, batch, sizeIn } = forward(layer, shape);
    if (algorithm !== "direct" && withBackward) throw new Refusal("backward", `backward=True counts the direct algorithm only, not algorithm='${algorithm}': leave algorithm out (or pass 'direct')`);
    if (algorithm !== "direct") return { layer, shape, values: fast(layer, result, algorithm, tile) };
    if (tile.trim()) throw new Refusal("tile", `tile=${tile}: the direct algorithm has no tile; leave it out`);
    const values = withBackward ? { ...result, ...backward(layer, batch, sizeIn, chosen) } : result;
    return { layer, shape, values };
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    return { refusal: { parameter: error.parameter, message: error.message } };
  }
}

// -- the page ---------------------------------------------------------------------------------
const LABELS = {
  psi: "ψ, filters", lam: "λ, operations per filter", gamma: "γ, aggregation and bias additions",
  A: "A, additions per filter", output_shape: "Output shape", multiplications: "Multiplications",
  additions: "Additions", total: "Total (multiplications + additions)", macs: "MACs (= multiplications)",
  flops: "FLOPs (FlopCounterMode: 2 × multiplications)",
  "grad_input.multiplications": "grad_input multiplications", "grad_input.additions": "grad_input additions",
  fold: "of which the fold (padding_mode)",
  "grad_weight.multiplications": "grad_weight multiplications", "grad_weight.additions": "grad_weight additions",
  "grad_bias.multiplications": "grad_bias multiplications", "grad_bias.additions": "grad_bias additions",
  "backward.multiplications": "Backward multiplications", "backward.additions": "Backward additions",
  "backward.total": "Backward total", "backward.flops": "Backward FLOPs (2 × multiplications)",
};
const LINKED = { output_shape: "output_size", total: "total" };

function show(value) {
  return Array.isArray(value) ? `(${value.join(", ")})` : value.toLocaleString("en-US");
}

function rows(values, links, base) {
  return Object.entries(values).filter(([q]) => q !== "batch").map(([q, v]) => {
    const link = links[LINKED[q] ?? q];
    const label = link ? `<a href="${base}${link}">${LABELS[q]}</a>` : (LABELS[q] ?? q.replace(":", " "));
    const data = Array.isArray(v) ? v.join(",") : v.toString();
    return `<tr><th scope="row">${label}</th><td data-quantity="${q}" data-value="${data}">${show(v)}</td></tr>`;
  }).join("");
}

function formula(kind, values) {
  const numbers = kind.numbers.replace(/@(\w+)@/g, (_, s) => (s === "N" ? values.batch : values[s]).toString());
  return String.raw`\begin{aligned}&${kind.formula} \\ &= ${numbers} \\ &= ${values.total}\end{aligned}`;
}

// A layer as Python writes it, for the copied convops.breakdown call (mirrors Layer.to_module's arguments).
function pythonLayer(layer) {
  const tuple = (xs) => (xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(", ")})`);
  const args = [layer.in_channels, layer.out_channels, `kernel_size=${tuple(layer.kernel_size)}`,
    `stride=${tuple(layer.stride)}`,
    `padding=${typeof layer.padding === "string" ? `'${layer.padding}'` : tuple(layer.padding)}`,
    `dilation=${tuple(layer.dilation)}`, `groups=${layer.groups}`, `bias=${layer.bias ? "True" : "False"}`,
    `padding_mode='${layer.padding_mode}'`];
  if (layer.kind.transposed) args.push(`output_padding=${tuple(layer.output_padding)}`);
  return `torch.nn.${layer.kind.name}(${args.join(", ")})`;
}

function python(layer, shape, withBackward, chosen, algorithm, tile) {
  const gradients = `(${chosen.map((g) => `'${g}', `).join("")})`;
  let extra = withBackward ? `, backward=True${chosen.length < 3 ? `, gradients=${gradients}` : ""}` : "";
  if (algorithm !== "direct") extra += `, algorithm='${algorithm}'${tile.trim() ? `, tile=${tile.includes(",") ? `(${tile})` : tile}` : ""}`;
  const dims = shape.values.length === 1 ? `(${shape.values[0]},)` : `(${shape.values.join(", ")})`;
  return `import torch, convops  # convops ${version}\nconvops.breakdown(${pythonLayer(layer)}, ${dims}${extra})`;
}

// The fields of a layer read from its text; the field being typed in is left as it is.
function fieldsFrom(form, layer) {
  const text = (xs) => (xs.every((x) => x === xs[0]) ? `${xs[0]}` : `(${xs.join(", ")})`);
  const set = (name, value) => { if (document.activeElement !== form[name]) form[name].value = value; };
  set("kind", layer.kind.name);
  for (const name of ["in_channels", "out_channels", "groups"]) set(name, `${layer[name]}`);
  for (const name of ["kernel_size", "stride", "dilation", "output_padding"]) set(name, text(layer[name]));
  set("padding", typeof layer.padding === "string" ? `'${layer.padding}'` : text(layer.padding));
  set("padding_mode", layer.padding_mode);
  form.bias.checked = layer.bias;
  form.output_padding.disabled = !layer.kind.transposed;
}

// The layer text the fields write: each field as Python would take it.
function layerFromFields(form) {
  const args = [form.in_channels.value, form.out_channels.value].map((v) => v.trim() || "?");
  for (const name of ["kernel_size", "stride", "padding", "dilation", "groups"]) args.push(`${name}=${form[name].value.trim() || "?"}`);
  args.push(`bias=${form.bias.checked ? "True" : "False"}`, `padding_mode='${form.padding_mode.value}'`);
  if (form.kind.value.startsWith("ConvTranspose")) args.push(`output_padding=${form.output_padding.value.trim() || "0"}`);
  return `${form.kind.value}(${args.join(", ")})`;
}

function chosenGradients(form) {
  return GRADIENTS.filter((g) => form[`grad_${g}`].checked);
}

// Evaluate the calculator's inputs and write every output (the one path every change takes).
function evaluate(root) {
  const form = root.querySelector("form");
  const alert = root.querySelector("[role=alert]");
  const results = root.querySelector(".convops-calc-results");
  const code = root.querySelector(".convops-calc-python code");
  const copy = root.querySelector(".convops-calc-copy");
  const withBackward = form.backward.checked;
  const chosen = chosenGradients(form);
  const out = compute(form.layer.value, form.input.value, withBackward, chosen, form.algorithm.value, form.tile.value);
  calculatorPicture(root, out, form.layer.value, form.input.value);
  root.dataset.state = out.refusal ? "refused" : "counted";
  const query = new URLSearchParams({ layer: form.layer.value, input: form.input.value });
  if (form.algorithm.value !== "direct") query.set("algorithm", form.algorithm.value);
  if (form.tile.value.trim()) query.set("tile", form.tile.value.trim());
  if (withBackward) query.set("backward", "1");
  if (withBackward && chosen.length < 3) query.set("gradients", chosen.join(","));
  const permalink = `${root.dataset.base}calculator/?${query}`;
  root.querySelector(".convops-calc-link").href = permalink;
  if (root.dataset.permalink === "true" && location.search !== `?${query}`) history.replaceState(history.state, "", `?${query}`);
  if (out.refusal) {
    alert.hidden = false;
    alert.dataset.parameter = out.refusal.parameter;
    alert.textContent = `Refused (${out.refusal.parameter}): ${out.refusal.message}`;
    results.replaceChildren();
    code.textContent = "";
    // nothing to copy: no code box, no button
    code.parentElement.hidden = copy.hidden = copy.disabled = true;
    return;
  }
  code.parentElement.hidden = copy.hidden = copy.disabled = false;
  alert.hidden = true;
  alert.textContent = "";
  delete alert.dataset.parameter;
  fieldsFrom(form, out.layer);
  const kind = out.layer.kind;
  const { batch, ...shown } = out.values;
  const forwardRows = Object.fromEntries(Object.entries(shown).filter(([q]) => !q.includes(".") && q !== "fold"));
  const backwardRows = Object.fromEntries(Object.entries(shown).filter(([q]) => q.includes(".") || q === "fold"));
  const tex = form.algorithm.value === "direct" ? formula(kind, out.values) : "";
  results.innerHTML = `<div class="convops-calc-formula" data-tex="${tex.replace(/"/g, "&quot;")}"></div>`
    + `<table class="convops-calc-table"><tbody>${rows(forwardRows, kind.links, root.dataset.base)}</tbody></table>`
    + (withBackward ? `<table class="convops-calc-table"><caption>Backward: ${chosen.map((g) => `grad_${g}`).join(", ") || "no gradient"}</caption><tbody>${rows(backwardRows, kind.links, root.dataset.base)}</tbody></table>` : "");
  const formulaBox = results.querySelector(".convops-calc-formula");
  if (window.katex) window.katex.render(tex, formulaBox, { displayMode: true, throwOnError: false });
  else formulaBox.textContent = tex;
  code.textContent = python(out.layer, out.shape, withBackward, chosen, form.algorithm.value, form.tile.value);
}

// Fill the calculator from a query string (a permalink) and evaluate.
function fromQuery(root, search) {
  const form = root.querySelector("form");
  const query = new URLSearchParams(search);
  if (query.has("layer")) form.layer.value = query.get("layer");
  if (query.has("input")) form.input.value = query.get("input");
  form.backward.checked = query.get("backward") === "1";
  [form.algorithm.value, form.tile.value] = [query.get("algorithm") ?? "direct", query.get("tile") ?? ""];
  const gradients = query.has("gradients") ? query.get("gradients").split(",") : GRADIENTS;
  for (const g of GRADIENTS) form[`grad_${g}`].checked = gradients.includes(g);
  evaluate(root);
}

function wire(root) {
  const form = root.querySelector("form");
  form.addEventListener("input", (event) => {
    const field = event.target.name;
    if (!["layer", "input", "backward", "grad_input", "grad_weight", "grad_bias", "algorithm", "tile"].includes(field)) {
      form.layer.value = layerFromFields(form);
    }
    evaluate(root);
  });
  root.querySelector(".convops-calc-copy").addEventListener("click", () => {
    navigator.clipboard?.writeText(root.querySelector(".convops-calc-python code").textContent).catch(() => {});
  });
  root.querySelector(".convops-calc-version").textContent = `Formulas printed from convops ${version}.`;
  if (root.dataset.permalink === "true") fromQuery(root, location.search);
  else evaluate(root);
}

// Material's instant navigation swaps pages without a reload: wire each calculator it shows.
// (The script is async, so that loading it never holds back the page's math.)
globalThis.document$?.subscribe(async () => {
  const calculators = document.querySelectorAll(".convops-calculator");
  if (!calculators.length) return;
  await load();
  // For the browser test and the curious: the path a permalink takes, and the arithmetic alone.
  window.convopsCalculator = {
    compute, version, fromQuery: (search) => fromQuery(document.querySelector(".convops-calculator"), search),
  };
  calculators.forEach(wire);
});
