// The status page's script: reads what it shows once (status, chart, a page of history, claims,
// hypotheses), then follows the daemon's server-sent events at /api/events; it never polls. Every
// string from a peer goes into the page as text (textContent or esc), never as markup.
'use strict'

const PAGE_ROWS = 25
const $ = (id) => document.getElementById(id)
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
// Peer text in the page's text: isolated, so a bidi override in it cannot reorder what follows (a val_bpb read backwards).
const t = (s) => '<bdi>' + esc(s) + '</bdi>'
const short = (id) => id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-6) : id
const peer = (id, self) => id === self ? '<span title="' + esc(id) + '">this node</span>' : '<code title="' + esc(id) + '">' + t(short(id)) + '</code>'
const dated = (ms) => new Date(ms).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
const bpb = (v) => v === null || v === undefined ? '–' : v.toFixed(4)
const count = (n) => n >= 1e6 ? (n / 1e6).toFixed(2) + 'M' : n >= 1e3 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n))
const mb = (bytes) => (bytes / 1e6).toFixed(1) + ' MB'
// Tokens per second over the harness's training time (start-up included), MFU and peak VRAM as train.py reported them.
const throughput = (m) => !m || !(m.training_seconds > 0) ? '' : count(m.total_tokens_M * 1e6 / m.training_seconds) + ' tok/s' + (m.mfu_percent > 0 ? ', MFU ' + m.mfu_percent.toFixed(1) + ' %' : '') + (m.peak_vram_mb > 0 ? ', ' + (m.peak_vram_mb / 1024).toFixed(1) + ' GiB' : '')
const rows = (id, items, cells, key) => {
  $(id).innerHTML = items.map((x) => '<tr' + (key ? ' data-id="' + esc(key(x)) + '"' : '') + '>' + cells(x).map((c) => '<td>' + c + '</td>').join('') + '</tr>').join('')
}
const arenaParam = (a) => 'tier=' + encodeURIComponent(a.tier) + '&budget=' + (a.maxSteps === null ? 'time' : a.maxSteps)
const arenaName = (a) => a.tier + ', ' + a.budget
const getJson = async (url) => {
  const res = await fetch(url)
  const body = await res.json()
  if (!res.ok) throw new Error(body.error ? body.error.message : res.status)
  return body
}
function duration (ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return s + ' s'
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s'
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min'
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h'
}

const view = {
  status: null,
  self: '',
  arenas: [],
  chartArena: null,
  chart: null,
  points: null,
  history: { offset: 0, total: 0, arena: null, mine: false, rows: [] }
}

// The glance: this node, its work, the swarm and its best per arena, the live run, problems in words.
function renderStatus (s) {
  view.status = s
  view.self = s.peerId
  $('swarm').textContent = 'swarm ' + s.swarm
  $('peer-id').textContent = s.peerId
  const r = s.research
  $('research').innerHTML = 'agent <b>' + t(r.agent) + '</b>, profile ' + t(r.profile) + ', tier <b>' + t(r.tier) + '</b>, ' + t(r.maxSteps === null ? 'time budget' : r.maxSteps + ' steps') + ' a run'
  $('gpus').textContent = r.hardware.gpu === 'cpu' ? 'none (cpu)' : r.hardware.gpu + ' (' + r.hardware.vramGb + ' GB)' + (r.workers > 1 ? ' × ' + r.workers : '')
  const conf = r.confinement
  $('sandbox').innerHTML = conf === null ? '<span class="muted">no experiments on this node</span>' : conf.foreignCode.runs ? '<span class="good">on</span>: peers\u2019 code runs confined' : '<span class="bad">off</span>: ' + t(conf.foreignCode.why)
  $('uptime').textContent = duration(s.time - s.startedAt) + ' (since ' + dated(s.startedAt) + ')'
  $('data-identity').innerHTML = 'harness <code>' + t(r.harness) + '</code>' + (r.corpus ? ', ' + t(r.corpus.dataset) + ' validation <code>' + t(r.corpus.valSha256.slice(0, 16)) + '</code>' : ', built-in cpu corpus')
  $('reachability').textContent = s.reachability + (s.relays.holding.length > 0 ? ' (slots on ' + s.relays.holding.length + ' relays)' : '') + (s.relays.serving ? ', relaying for peers behind NAT' : '')
  const own = s.self
  $('own-counts').innerHTML = [['runs', own.runs], ['keeps', own.keeps], ['discards', own.discards], ['crashes', own.crashes], ['verifications', own.verifications], ['GPU hours', own.gpuHours.toFixed(1)]]
    .map(([k, v]) => '<span>' + k + ' <b data-own="' + k + '">' + v + '</b></span>').join('')
  renderRun(r.current)
  $('swarm-counts').innerHTML = '<span>peers <b data-swarm="peers">' + s.peers.length + '</b></span><span>results <b data-swarm="results">' + s.results + '</b></span><span>hypotheses <b>' + (s.counts.hypothesis ?? 0) + '</b></span>'
  rows('bests', s.arenas, (a) => [
    t(arenaName(a)) + ' <span class="muted">(' + a.results + ')</span>',
    a.best === null ? '<span class="muted">none trusted yet</span>' : '<b>' + bpb(a.best.valBpb) + '</b> ' + t(a.best.description),
    a.best === null ? '' : peer(a.best.author, s.peerId),
    a.reproducedBy.length === 0 ? (a.best === null ? '' : '<span class="muted">' + (a.best.author === s.peerId ? 'its own run' : 'not yet') + '</span>') : a.reproducedBy.map((v) => peer(v.author, s.peerId) + ' ' + bpb(v.valBpb)).join(', ')
  ], (a) => a.best === null ? '' : a.best.id)
  $('problems').innerHTML = s.problems.map((p) => '<li>' + t(p) + '</li>').join('')
  renderArenas(s.arenas, r)
  // Peers, sandbox, claim counts, records and rejections.
  $('peer-count').textContent = s.peers.length
  $('mesh-count').textContent = s.topicPeers
  rows('peers', s.peers, (p) => ['<code>' + t(p.peerId) + '</code>', '<code>' + t(p.addr) + '</code>', t(p.direction), t(p.path), p.latencyMs === null ? '–' : t(p.latencyMs) + ' ms', t(p.connections)])
  $('foreign-code').innerHTML = conf === null ? '<span class="muted">no experiments on this node</span>' : '<span class="' + (conf.foreignCode.runs ? '' : 'bad') + '">' + t(conf.foreignCode.why) + '</span>'
  rows('confinement', conf === null ? [] : conf.protections, (p) => [t(p.name), p.holds ? 'yes' : '<span class="bad">no</span>', t(p.how)])
  const cc = s.claims
  $('claim-counts').innerHTML = ['active', 'expired', 'released', 'finished', 'duplicateResults'].map((k) => '<span>' + (k === 'duplicateResults' ? 'duplicate results' : k) + ' <b data-claims="' + k + '">' + cc[k] + '</b></span>').join('')
  $('counts').innerHTML = Object.entries(s.counts).map(([k, v]) => '<span>' + t(k) + ' <b data-kind="' + esc(k) + '">' + v + '</b></span>').join('')
  $('rejected').textContent = s.rejections.reject + s.rejections.ignore
  rows('rejections', s.rejections.recent, (x) => [t(dated(x.at)), '<code>' + t(short(x.peer)) + '</code>', t(x.channel), '<span class="' + (x.verdict === 'reject' ? 'bad' : 'muted') + '">' + t(x.fault) + '</span>'])
}

function renderRun (run) {
  if (run === null) {
    $('live-run').innerHTML = '<span class="muted">idle</span>'
    return
  }
  const of = 'steps' in run.budget ? ' of ' + run.budget.steps : ''
  $('live-run').innerHTML = '"' + t(run.description) + '"<br>step <b>' + run.step + '</b>' + of +
    (run.lossBpb === null ? '' : ', loss ' + run.lossBpb.toFixed(3) + ' bpb') +
    (run.leftMs === null ? ', starting' : ', about ' + duration(run.leftMs) + ' left') +
    '<div class="bar" role="progressbar" aria-valuenow="' + Math.round(run.fraction * 100) + '"><div style="width:' + (run.fraction * 100).toFixed(1) + '%"></div></div>'
}

// The arenas (tier and budget) results ran in: the chart shows one, the history one or all.
function renderArenas (arenas, research) {
  const keys = arenas.map(arenaParam).join('|')
  if (keys === view.arenas.map(arenaParam).join('|')) return
  view.arenas = arenas
  const own = { tier: research.tier, maxSteps: research.maxSteps, budget: research.maxSteps === null ? 'time budget' : research.maxSteps + ' steps' }
  const listed = arenas.some((a) => arenaParam(a) === arenaParam(own)) ? arenas : [{ ...own, results: 0 }, ...arenas]
  const options = (withAll) => (withAll ? '<option value="">all tiers and budgets</option>' : '') + listed.map((a) => '<option value="' + esc(arenaParam(a)) + '">' + esc(arenaName(a)) + ' (' + a.results + ')</option>').join('')
  const chartValue = $('arena').value || arenaParam(own)
  $('arena').innerHTML = options(false)
  $('arena').value = chartValue
  const historyValue = $('history-arena').value
  $('history-arena').innerHTML = options(true)
  $('history-arena').value = historyValue
  if (view.chartArena === null) loadChart(chartValue).catch(showError)
}

// The chart: one point per ranked result of the arena, keeps and discards apart, this node's
// ringed, and the running best among trusted results as a line.
async function loadChart (param) {
  view.chartArena = param
  const c = await getJson('/api/chart?' + param)
  if (view.chartArena !== param) return
  view.points = c.points
  view.sampled = c.ranked > c.points.t.length ? ' shown of ' + c.ranked + ' (every keep and each new best; the discards sampled)' : ''
  $('chart-note').textContent = c.points.t.length + ' results' + view.sampled + (c.crashes > 0 ? ', ' + c.crashes + ' crashes not plotted' : '')
  drawChart()
}

function chartData (p) {
  const n = p.t.length
  const x = new Array(n)
  const keep = new Array(n)
  const discard = new Array(n)
  const mine = new Array(n)
  const best = new Array(n)
  let running = null
  for (let i = 0; i < n; i++) {
    x[i] = p.t[i] / 1000
    keep[i] = p.s[i] === 'k' ? p.v[i] : null
    discard[i] = p.s[i] === 'd' ? p.v[i] : null
    mine[i] = p.mine[i] === '1' ? p.v[i] : null
    if (p.trusted[i] === '1' && (running === null || p.v[i] < running)) running = p.v[i]
    best[i] = running
  }
  return [x, keep, discard, mine, best]
}

function drawChart () {
  const data = chartData(view.points)
  if (view.chart !== null) {
    view.chart.setData(data)
    return
  }
  const dots = (fill, size) => ({ paths: () => null, points: { show: true, size, fill, stroke: fill } })
  view.chart = new uPlot({
    width: Math.max(320, $('chart').clientWidth || 900),
    height: 320,
    scales: { x: { time: true } },
    series: [
      {},
      { label: 'keep', stroke: '#1a7f37', ...dots('#1a7f37', 7) },
      { label: 'discard', stroke: '#8c959f', ...dots('#8c959f', 6) },
      { label: 'this node', stroke: '#0969da', paths: () => null, points: { show: true, size: 12, width: 2, fill: 'rgba(0,0,0,0)', stroke: '#0969da' } },
      { label: 'running best (trusted)', stroke: '#cf222e', width: 2, spanGaps: true, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }
    ],
    axes: [{}, { label: 'val_bpb', size: 70 }]
  }, data, $('chart'))
  window.swarmdChart = view.chart
  view.chart.over.addEventListener('click', () => {
    const i = view.chart.cursor.idx
    if (i !== null && i !== undefined && view.points.id[i] !== undefined) openResult(view.points.id[i])
  })
}

// New results pushed by the daemon: onto the chart when of its arena, into the history when it shows the newest.
function addResults (results) {
  const shown = view.chartArena
  let added = false
  const plotted = new Set(view.points === null ? [] : view.points.id)
  for (const r of results) {
    if (view.points !== null && arenaParam(r) === shown && r.valBpb !== null && r.status !== 'crash' && !plotted.has(r.id.slice(0, 12))) {
      const p = view.points
      p.t.push(r.createdAt); p.v.push(r.valBpb); p.s += r.status === 'keep' ? 'k' : 'd'; p.mine += r.author === view.self ? '1' : '0'
      p.trusted += r.trust === 'self' || r.trust === 'trusted' ? '1' : '0'; p.id.push(r.id.slice(0, 12))
      added = true
    }
  }
  if (added) {
    sortPoints(view.points)
    $('chart-note').textContent = view.points.t.length + ' results' + (view.sampled ?? '')
    drawChart()
  }
  const h = view.history
  const matching = results.filter((r) => (h.arena === null || arenaParam(r) === h.arena) && (!h.mine || r.author === view.self))
  h.total += matching.length
  if (h.offset === 0 && matching.length > 0) {
    h.rows = [...matching.reverse(), ...h.rows].slice(0, PAGE_ROWS)
    renderHistory()
  } else {
    $('history-total').textContent = h.total
  }
}

// Results arrive in any order after a partition: the chart's x must ascend.
function sortPoints (p) {
  const order = p.t.map((_, i) => i)
  if (order.every((i) => i === 0 || p.t[i - 1] <= p.t[i])) return
  order.sort((a, b) => p.t[a] - p.t[b])
  const pick = (xs) => order.map((i) => xs[i])
  p.t = pick(p.t); p.v = pick(p.v); p.id = pick(p.id)
  p.s = pick([...p.s]).join(''); p.mine = pick([...p.mine]).join(''); p.trusted = pick([...p.trusted]).join('')
}

async function loadHistory () {
  const h = view.history
  const filter = (h.arena === null ? '' : '&' + h.arena) + (h.mine ? '&author=self' : '')
  const page = await getJson('/api/history?offset=' + h.offset + '&limit=' + PAGE_ROWS + filter)
  h.total = page.total
  h.rows = page.results
  renderHistory()
}

function renderHistory () {
  const h = view.history
  $('history-total').textContent = h.total
  rows('history', h.rows, (r) => [
    t(dated(r.createdAt)),
    r.valBpb === null ? '–' : bpb(r.valBpb),
    '<span class="status-' + esc(r.status) + '">' + t(r.status) + '</span>' + (r.crash ? ' <span class="muted">(' + t(r.crash) + ')</span>' : '') + (r.duplicateOf ? ' <span class="bad">duplicate</span>' : ''),
    t(r.tier + ', ' + r.budget),
    t(r.description),
    peer(r.author, view.self),
    t(r.trust ?? '')
  ], (r) => r.id)
  $('history-range').textContent = h.total === 0 ? 'none' : (h.offset + 1) + '–' + (h.offset + h.rows.length) + ' of ' + h.total
  $('history-newer').disabled = h.offset === 0
  $('history-older').disabled = h.offset + PAGE_ROWS >= h.total
}

// One result opened: its numbers, lineage, reproductions, diff against its parent, source and log.
async function openResult (id) {
  let d
  try {
    d = await getJson('/api/results/' + encodeURIComponent(id))
  } catch (err) {
    // Nothing of the result shown before stays under another's name.
    for (const part of ['detail-id', 'detail-lineage', 'detail-reproductions', 'detail-diff-note', 'detail-diff', 'detail-source', 'detail-log-size', 'detail-log']) $(part).textContent = ''
    $('detail').hidden = false
    $('detail-summary').textContent = 'could not open ' + id + ': ' + err.message
    return
  }
  const r = d.result
  if (location.hash !== '#result=' + r.id) history.replaceState(null, '', '#result=' + r.id)
  $('detail').hidden = false
  $('detail-id').textContent = r.id
  const m = r.metrics
  $('detail-summary').innerHTML = '<b>' + t(r.description) + '</b><br>' +
    '<span class="status-' + esc(r.status) + '">' + t(r.status) + '</span>' + (m ? ', val_bpb <b>' + bpb(m.val_bpb) + '</b>, ' + m.num_steps + ' steps, ' + m.training_seconds.toFixed(0) + ' s training, ' + t(throughput(m)) : '') +
    (r.crash ? ', crashed: <b>' + t(r.crash.reason) + '</b> ' + t(r.crash.detail) : '') +
    '<br>tier ' + t(r.hardware.tier) + ', ' + t(d.budget) + ', on ' + t(r.hardware.gpu) + ' · by ' + peer(r.author, view.self) + ' · ' + t(dated(r.createdAt)) + ' · trust: ' + t(r.trust ?? 'n/a')
  const link = (x) => '<a href="#result=' + esc(x.id) + '">' + t(x.description) + '</a> ' + (x.valBpb === null ? t(x.status) : bpb(x.valBpb))
  $('detail-lineage').innerHTML = 'parent: ' + (r.parent === null ? 'the default train.py' : d.parent === null ? '<code>' + t(short(r.parent)) + '</code> (not held here)' : link(d.parent)) +
    '<br>children: ' + (d.childCount === 0 ? '<span class="muted">none yet</span>' : d.childCount + (d.childCount > d.children.length ? ', the newest ' + d.children.length + ':' : '') + '<ul>' + d.children.map((c) => '<li>' + link(c) + '</li>').join('') + '</ul>')
  rows('detail-reproductions', d.reproductions, (v) => [peer(v.author, view.self), v.valBpb === null ? '<span class="bad">' + t(v.crash ?? 'crash') + '</span>' : bpb(v.valBpb), v.counts ? 'yes' : 'no', t(dated(v.createdAt))])
  $('detail-diff-note').textContent = d.diffNote ?? ''
  $('detail-diff').innerHTML = (d.diff ?? '').split('\n').filter((line) => !line.startsWith('====')).map((line) => {
    const cls = /^(---|\+\+\+) /.test(line) ? 'file' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : ''
    return '<span class="' + cls + '">' + t(line) + '</span>'
  }).join('\n')
  $('detail-source').textContent = d.source ?? d.sourceNote ?? ''
  $('detail-log-size').textContent = d.log === null ? 'not held here' : mb(d.log.bytes) + (d.log.tail.length < d.log.bytes ? ', the end shown' : '')
  $('detail-log').textContent = d.log === null ? '' : d.log.tail
  $('detail').scrollIntoView({ block: 'start' })
}

async function loadClaims () {
  const active = await getJson('/api/claims?status=active')
  rows('claims', active.claims.slice(0, 20), (c) => [t(c.description), peer(c.author, view.self), t(dated(c.expiresAt))])
}

async function loadHypotheses () {
  const hyps = await getJson('/api/hypotheses')
  rows('hypotheses', hyps.hypotheses.slice(0, 20), (h) => [t(h.title), t(h.text), t(h.state), peer(h.author, view.self), t(dated(h.createdAt))])
}

// Reading again on an event, at most once a `gapMs`: a burst of events costs one request.
function throttled (load, gapMs) {
  let timer = null
  return () => {
    if (timer !== null) return
    timer = setTimeout(() => { timer = null; load().catch(showError) }, gapMs)
  }
}

function showError (err) {
  $('connection').textContent = 'daemon unreachable: ' + err.message
}

function startingText (s) {
  if (s.phase !== 'corpus') return 'getting ready…'
  const c = s.corpus
  if (c.phase === 'list') return 'listing the corpus\u2019 shards and their checksums…'
  if (c.phase === 'download') return 'fetching the corpus: ' + mb(c.done) + ' of ' + mb(c.total) + ' (' + Math.floor(100 * c.done / Math.max(1, c.total)) + ' %, ' + mb(c.bytesPerSecond) + '/s' + (c.etaSeconds === undefined ? '' : ', ' + Math.ceil(c.etaSeconds) + ' s left') + ')'
  return 'flattening the corpus\u2019 ' + (c.split === 'train' ? 'training' : 'validation') + ' split: ' + c.documents + ' documents'
}

// A starting daemon (fetching its corpus) answers only its progress: shown until it serves.
async function waitUntilServing () {
  for (;;) {
    const s = await getJson('/api/status')
    if (!s.starting) return s
    $('research').textContent = 'starting: ' + startingText(s.starting)
    $('connection').textContent = 'starting'
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}

function follow () {
  const events = new EventSource('/api/events')
  const claims = throttled(loadClaims, 1000)
  const hypotheses = throttled(loadHypotheses, 1000)
  const chart = throttled(() => loadChart(view.chartArena), 15000)
  const everything = throttled(() => Promise.all([loadChart(view.chartArena), loadHistory()]), 2000)
  events.onopen = () => { $('connection').textContent = 'live' }
  events.onerror = () => { $('connection').textContent = 'reconnecting to the daemon…' }
  events.addEventListener('status', (e) => renderStatus(JSON.parse(e.data)))
  events.addEventListener('results', (e) => addResults(JSON.parse(e.data)))
  events.addEventListener('reset', everything)
  events.addEventListener('verifications', chart)
  events.addEventListener('claims', claims)
  events.addEventListener('hypotheses', hypotheses)
}

async function main () {
  try {
    const status = await waitUntilServing()
    renderStatus(status)
    await Promise.all([loadHistory(), loadClaims(), loadHypotheses()])
    follow()
    if (location.hash.startsWith('#result=')) openResult(location.hash.slice(8))
  } catch (err) {
    showError(err)
  }
}

$('arena').addEventListener('change', () => { loadChart($('arena').value).catch(showError) })
$('history-arena').addEventListener('change', () => { view.history.arena = $('history-arena').value || null; view.history.offset = 0; loadHistory().catch(showError) })
$('history-mine').addEventListener('change', () => { view.history.mine = $('history-mine').checked; view.history.offset = 0; loadHistory().catch(showError) })
$('history-newer').addEventListener('click', () => { view.history.offset = Math.max(0, view.history.offset - PAGE_ROWS); loadHistory().catch(showError) })
$('history-older').addEventListener('click', () => { view.history.offset += PAGE_ROWS; loadHistory().catch(showError) })
$('history').addEventListener('click', (e) => { const row = e.target.closest('tr[data-id]'); if (row) openResult(row.dataset.id) })
$('bests').addEventListener('click', (e) => { const row = e.target.closest('tr[data-id]'); if (row && row.dataset.id) openResult(row.dataset.id) })
$('detail-close').addEventListener('click', () => { $('detail').hidden = true; history.replaceState(null, '', location.pathname) })
window.addEventListener('hashchange', () => { if (location.hash.startsWith('#result=')) openResult(location.hash.slice(8)) })
main()
