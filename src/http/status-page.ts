/**
 * The status page at `/`: static HTML that renders from `/api/status`, `/api/hypotheses`,
 * `/api/results` and the active claims, and refreshes every two seconds. No external assets (works offline).
 */
export function statusPageHtml (): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>swarmd</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d1d1f; max-width: 72rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
  code, td.mono { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
  .counts span { display: inline-block; margin-right: 1.25rem; } .muted { color: #6e6e73; } .bad { color: #b00020; }
</style>
</head>
<body>
<h1>swarmd <span class="muted" id="swarm"></span></h1>
<div>peer <code id="peer-id">…</code></div>
<div class="muted" id="listen"></div>
<div class="muted">reachability: <span id="reachability">…</span></div>
<div class="bad" id="problems"></div>
<h2>Records</h2>
<div class="counts" id="counts"></div>
<h2>Research</h2>
<div id="research" class="muted">…</div>
<h2>Sandbox for peers' code: <span id="foreign-code">…</span></h2>
<table><thead><tr><th>protection</th><th>holds</th><th>how</th></tr></thead><tbody id="confinement"></tbody></table>
<h2>Claims</h2>
<div class="counts" id="claim-counts"></div>
<table><thead><tr><th>running now</th><th>author</th><th>expires</th></tr></thead><tbody id="claims"></tbody></table>
<h2>Recent results</h2>
<table><thead><tr><th>val_bpb</th><th>status</th><th>change</th><th>throughput</th><th>author</th><th>when</th></tr></thead><tbody id="results"></tbody></table>
<h2>Peers (<span id="peer-count">0</span>, on topic <span id="mesh-count">0</span>)</h2>
<table><thead><tr><th>peer</th><th>address</th><th>direction</th><th>path</th><th>round trip</th><th>connections</th></tr></thead><tbody id="peers"></tbody></table>
<h2>Recent hypotheses</h2>
<table><thead><tr><th>title</th><th>text</th><th>state</th><th>author</th><th>when</th></tr></thead><tbody id="hypotheses"></tbody></table>
<h2>Rejected peer input (<span id="rejected">0</span>)</h2>
<table><thead><tr><th>when</th><th>peer</th><th>via</th><th>why</th></tr></thead><tbody id="rejections"></tbody></table>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
const short = (id) => id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-6) : id
const when = (ms) => new Date(ms).toLocaleTimeString()
const count = (n) => n >= 1e6 ? (n / 1e6).toFixed(2) + 'M' : n >= 1e3 ? (n / 1e3).toFixed(1) + 'k' : n.toFixed(0)
// Tokens per second over the harness's training time (start-up included), MFU and peak VRAM as train.py reported them.
const throughput = (m) => !m || !(m.training_seconds > 0) ? '' : count(m.total_tokens_M * 1e6 / m.training_seconds) + ' tok/s' + (m.mfu_percent > 0 ? ', MFU ' + m.mfu_percent.toFixed(1) + ' %' : '') + (m.peak_vram_mb > 0 ? ', ' + (m.peak_vram_mb / 1024).toFixed(1) + ' GiB' : '')
const rows = (id, items, cells) => { document.getElementById(id).innerHTML = items.map((x) => '<tr>' + cells(x).map((c) => '<td>' + c + '</td>').join('') + '</tr>').join('') }
const mb = (bytes) => (bytes / 1e6).toFixed(1) + ' MB'
function startingText (s) {
  if (s.phase !== 'corpus') return 'getting ready…'
  const c = s.corpus
  if (c.phase === 'list') return 'listing the corpus\u2019 shards and their checksums…'
  if (c.phase === 'download') return 'fetching the corpus: ' + mb(c.done) + ' of ' + mb(c.total) + ' (' + Math.floor(100 * c.done / Math.max(1, c.total)) + ' %, ' + mb(c.bytesPerSecond) + '/s' + (c.etaSeconds === undefined ? '' : ', ' + Math.ceil(c.etaSeconds) + ' s left') + ')'
  return 'flattening the corpus\u2019 ' + (c.split === 'train' ? 'training' : 'validation') + ' split: ' + c.documents + ' documents'
}
async function refresh () {
  try {
    const first = await fetch('/api/status').then((r) => r.json())
    if (first.starting) {
      document.getElementById('research').textContent = 'starting: ' + startingText(first.starting)
      return
    }
    const [status, hyps, res, active] = await Promise.all(['/api/status', '/api/hypotheses', '/api/results', '/api/claims?status=active'].map((u) => fetch(u).then((r) => r.json())))
    const rs = status.research
    const run = rs.current ? ' — running "' + esc(rs.current.description) + '" step ' + rs.current.step + (rs.current.lossBpb === null ? '' : ', loss ' + rs.current.lossBpb.toFixed(3) + ' bpb') : ''
    document.getElementById('research').innerHTML = 'agent <b>' + esc(rs.agent) + '</b>, profile ' + esc(rs.profile) + ', tier ' + esc(rs.tier) + ', harness <code>' + esc(rs.harness) + '</code>' + (rs.corpus ? ', corpus ' + esc(rs.corpus.dataset) + ' (validation sha256 <code>' + esc(rs.corpus.valSha256.slice(0, 16)) + '</code>)' : '') + (rs.stats ? ', ' + rs.stats.experiments + ' experiments' : '') + run
    const conf = rs.confinement
    document.getElementById('foreign-code').innerHTML = conf === null ? '<span class="muted">no experiments on this node</span>' : '<span class="' + (conf.foreignCode.runs ? '' : 'bad') + '">' + esc(conf.foreignCode.why) + '</span>'
    rows('confinement', conf === null ? [] : conf.protections, (p) => [esc(p.name), p.holds ? 'yes' : '<span class="bad">no</span>', esc(p.how)])
    rows('results', res.results.slice(0, 20), (r) => [r.metrics ? r.metrics.val_bpb.toFixed(4) : 'crash', esc(r.status) + (r.duplicateOf ? ' <span class="bad" title="repeats ' + esc(r.duplicateOf.of) + '">duplicate (' + esc(r.duplicateOf.layer) + ')</span>' : ''), esc(r.description), esc(throughput(r.metrics)), '<code title="' + esc(r.author) + '">' + esc(short(r.author)) + '</code>', esc(when(r.createdAt))])
    const cc = status.claims
    document.getElementById('claim-counts').innerHTML = ['active', 'expired', 'released', 'finished', 'duplicateResults'].map((k) => '<span>' + (k === 'duplicateResults' ? 'duplicate results' : k) + ': <b data-claims="' + k + '">' + cc[k] + '</b></span>').join('')
    rows('claims', active.claims.slice(0, 20), (c) => [esc(c.description), '<code title="' + esc(c.author) + '">' + esc(short(c.author)) + '</code>', esc(when(c.expiresAt))])
    document.getElementById('swarm').textContent = 'swarm ' + status.swarm
    document.getElementById('peer-id').textContent = status.peerId
    document.getElementById('listen').textContent = status.listen.join('  ')
    document.getElementById('reachability').textContent = status.reachability + (status.relays.holding.length > 0 ? ' (slots on ' + status.relays.holding.length + ' relays)' : '') + (status.relays.serving ? ', relaying for peers behind NAT' : '')
    document.getElementById('counts').innerHTML = Object.entries(status.counts).map(([k, v]) => '<span>' + esc(k) + ': <b data-kind="' + esc(k) + '">' + v + '</b></span>').join('')
    // Problems in words: bootstrap peers out of reach (after a few tries), no peer at all.
    const unreachable = status.bootstrap.filter((b) => !b.connected && b.failures >= 3)
    document.getElementById('problems').textContent = unreachable.map((b) => 'bootstrap peer ' + b.addr + ' unreachable after ' + b.failures + ' tries (' + (b.lastError || 'no answer') + ')').concat(status.peers.length === 0 ? ['no peers connected'] : []).join('; ')
    document.getElementById('peer-count').textContent = status.peers.length
    document.getElementById('mesh-count').textContent = status.topicPeers
    rows('peers', status.peers, (p) => ['<code>' + esc(p.peerId) + '</code>', '<code>' + esc(p.addr) + '</code>', esc(p.direction), esc(p.path), p.latencyMs === null ? '–' : esc(p.latencyMs) + ' ms', esc(p.connections)])
    rows('hypotheses', hyps.hypotheses.slice(0, 20), (h) => [esc(h.title), esc(h.text), esc(h.state), '<code title="' + esc(h.author) + '">' + esc(short(h.author)) + '</code>', esc(when(h.createdAt))])
    document.getElementById('rejected').textContent = status.rejections.reject + status.rejections.ignore
    rows('rejections', status.rejections.recent, (r) => [esc(when(r.at)), '<code>' + esc(short(r.peer)) + '</code>', esc(r.channel), '<span class="' + (r.verdict === 'reject' ? 'bad' : 'muted') + '">' + esc(r.fault) + '</span>'])
  } catch (err) {
    document.getElementById('listen').textContent = 'daemon unreachable: ' + err
  }
}
refresh()
setInterval(refresh, 2000)
</script>
</body>
</html>
`
}
