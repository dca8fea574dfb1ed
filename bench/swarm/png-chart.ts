/**
 * A line chart as a PNG, with no dependency: an RGB canvas, lines, a 5×7 pixel font for the
 * labels, and the PNG encoding (zlib from Node). Enough for bench:swarm's "best val_bpb over wall
 * time, one line per policy".
 */
import { deflateSync } from 'node:zlib'

export type Rgb = [number, number, number]

export interface Series {
  label: string
  color: Rgb
  points: Array<[number, number]>
}

export interface LineChart {
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  /** A dashed horizontal line (e.g. the target), with its label. */
  marker?: { y: number, label: string }
  width?: number
  height?: number
}

/** Rows of a glyph, top to bottom, 5 bits each (16 is the leftmost pixel). */
const FONT: Record<string, number[]> = {
  0: [14, 17, 19, 21, 25, 17, 14], 1: [4, 12, 4, 4, 4, 4, 14], 2: [14, 17, 1, 2, 4, 8, 31], 3: [31, 2, 4, 2, 1, 17, 14],
  4: [2, 6, 10, 18, 31, 2, 2], 5: [31, 16, 30, 1, 1, 17, 14], 6: [6, 8, 16, 30, 17, 17, 14], 7: [31, 1, 2, 4, 8, 8, 8],
  8: [14, 17, 17, 14, 17, 17, 14], 9: [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 31, 17, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14], D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16], G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14], J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14], P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17], S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14], V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 10, 4, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
  '.': [0, 0, 0, 0, 0, 12, 12], ',': [0, 0, 0, 0, 12, 4, 8], '-': [0, 0, 0, 31, 0, 0, 0], _: [0, 0, 0, 0, 0, 0, 31],
  '(': [2, 4, 8, 8, 8, 4, 2], ')': [8, 4, 2, 2, 2, 4, 8], ':': [0, 12, 12, 0, 12, 12, 0], '/': [1, 1, 2, 4, 8, 16, 16],
  '%': [24, 25, 2, 4, 8, 19, 3], '=': [0, 0, 31, 0, 31, 0, 0], '+': [0, 4, 4, 31, 4, 4, 0], '<': [2, 4, 8, 16, 8, 4, 2],
  '>': [8, 4, 2, 1, 2, 4, 8], ' ': [0, 0, 0, 0, 0, 0, 0]
}

const INK: Rgb = [40, 40, 40]
const GRID: Rgb = [225, 225, 225]

class Canvas {
  readonly pixels: Buffer

  constructor (readonly width: number, readonly height: number) {
    this.pixels = Buffer.alloc(width * height * 3, 255)
  }

  set (x: number, y: number, [r, g, b]: Rgb): void {
    x = Math.round(x)
    y = Math.round(y)
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return
    const i = (y * this.width + x) * 3
    this.pixels[i] = r
    this.pixels[i + 1] = g
    this.pixels[i + 2] = b
  }

  line (x0: number, y0: number, x1: number, y1: number, color: Rgb, options: { thick?: number, dash?: number } = {}): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))))
    const thick = options.thick ?? 1
    for (let s = 0; s <= steps; s++) {
      if (options.dash !== undefined && Math.floor(s / options.dash) % 2 === 1) continue
      const x = x0 + (x1 - x0) * s / steps
      const y = y0 + (y1 - y0) * s / steps
      for (let dx = 0; dx < thick; dx++) for (let dy = 0; dy < thick; dy++) this.set(x + dx - Math.floor(thick / 2), y + dy - Math.floor(thick / 2), color)
    }
  }

  rect (x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let dx = 0; dx < w; dx++) for (let dy = 0; dy < h; dy++) this.set(x + dx, y + dy, color)
  }

  /** Text from (x, y) at its top left, `scale` pixels per font pixel; unknown characters print as spaces. */
  text (x: number, y: number, text: string, color: Rgb, scale = 2): void {
    for (const [n, ch] of [...text.toUpperCase()].entries()) {
      const rows = FONT[ch] ?? FONT[' ']!
      for (const [row, bits] of rows.entries()) {
        for (let col = 0; col < 5; col++) if ((bits & (16 >> col)) !== 0) this.rect(x + (n * 6 + col) * scale, y + row * scale, scale, scale, color)
      }
    }
  }

  /** Vertical text, bottom to top, for the y axis' label. */
  textUp (x: number, y: number, text: string, color: Rgb, scale = 2): void {
    for (const [n, ch] of [...text.toUpperCase()].entries()) {
      const rows = FONT[ch] ?? FONT[' ']!
      for (const [row, bits] of rows.entries()) {
        for (let col = 0; col < 5; col++) if ((bits & (16 >> col)) !== 0) this.rect(x + row * scale, y - (n * 6 + col) * scale, scale, scale, color)
      }
    }
  }
}

export function textWidth (text: string, scale = 2): number {
  return text.length * 6 * scale
}

/** Round tick values covering [lo, hi], about `count` of them. */
function ticks (lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / count
  const step = [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw) ?? raw
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

function fmt (v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(4)).toString()
}

/** The chart as PNG bytes: step lines (a running best holds until it improves), axes, ticks, legend. */
export function lineChartPng (chart: LineChart): Buffer {
  const width = chart.width ?? 960
  const height = chart.height ?? 560
  const canvas = new Canvas(width, height)
  const left = 90
  const right = width - 260
  const top = 50
  const bottom = height - 70
  const all = chart.series.flatMap((s) => s.points)
  const ys = [...all.map(([, y]) => y), ...(chart.marker !== undefined ? [chart.marker.y] : [])]
  const xMax = Math.max(1, ...all.map(([x]) => x))
  let yLo = Math.min(...ys)
  let yHi = Math.max(...ys)
  if (!(yHi > yLo)) { yLo -= 0.5; yHi += 0.5 }
  const pad = (yHi - yLo) * 0.05
  yLo -= pad
  yHi += pad
  const px = (x: number): number => left + (x / xMax) * (right - left)
  const py = (y: number): number => bottom - ((y - yLo) / (yHi - yLo)) * (bottom - top)

  canvas.text(left, 14, chart.title, INK, 2)
  for (const t of ticks(0, xMax, 6)) {
    canvas.line(px(t), top, px(t), bottom, GRID)
    canvas.text(px(t) - textWidth(fmt(t), 2) / 2, bottom + 8, fmt(t), INK, 2)
  }
  for (const t of ticks(yLo, yHi, 6)) {
    canvas.line(left, py(t), right, py(t), GRID)
    canvas.text(left - 8 - textWidth(fmt(t), 2), py(t) - 5, fmt(t), INK, 2)
  }
  canvas.line(left, top, left, bottom, INK)
  canvas.line(left, bottom, right, bottom, INK)
  canvas.text((left + right) / 2 - textWidth(chart.xLabel) / 2, bottom + 32, chart.xLabel, INK)
  canvas.textUp(18, (top + bottom) / 2 + textWidth(chart.yLabel) / 2, chart.yLabel, INK)
  if (chart.marker !== undefined) {
    canvas.line(left, py(chart.marker.y), right, py(chart.marker.y), INK, { dash: 6 })
    canvas.text(right - textWidth(chart.marker.label, 2), py(chart.marker.y) - 14, chart.marker.label, INK, 2)
  }
  for (const s of chart.series) {
    for (let i = 1; i < s.points.length; i++) {
      const [x0, y0] = s.points[i - 1]!
      const [x1, y1] = s.points[i]!
      canvas.line(px(x0), py(y0), px(x1), py(y0), s.color, { thick: 2 })
      canvas.line(px(x1), py(y0), px(x1), py(y1), s.color, { thick: 2 })
    }
  }
  for (const [i, s] of chart.series.entries()) {
    const y = top + 10 + i * 26
    canvas.rect(right + 20, y, 24, 6, s.color)
    canvas.text(right + 52, y - 4, s.label, INK, 2)
  }
  return encodePng(canvas)
}

function encodePng (canvas: Canvas): Buffer {
  const { width, height, pixels } = canvas
  const raw = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) pixels.copy(raw, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3)
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8)
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0))
  ])
}

function chunk (type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'ascii')
  data.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32 (bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

