// The collector's live event viewer: plain DOM, no build step, no network but this collector.
// Event data is untrusted (anyone can POST it): it only ever goes into textContent.
'use strict'

const POLL_MS = 1000
const MAX_ROWS = 1000 // rows kept in the page; older ones fall off the bottom
const TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] // Segment's, always in the legend
// Types with a colour of their own (viewer.css); any other type is drawn as "other".
const COLOURED = TYPES.concat(['custom_event', 'commerce_event', 'screen_view'])
const NARROW = '(max-width: 700px)' // viewer.css: below this the filters start folded
const typeClass = (type) => `t-${COLOURED.includes(type) ? type : 'other'}`
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone

// refiltering: a filter changed and its re-query has not started yet (the debounce); polls then
// leave the rows alone, or they would show rows under the new filters that restart() then clears.
const state = { rows: [], afterSeq: 0, afterRejection: 0, paused: false, selected: null, generation: 0, refiltering: false }
const $ = (id) => document.getElementById(id)

function api (path, params) {
  // location.origin carries no user:password, so fetch works after a Basic sign-in too.
  const url = new URL(path, window.location.origin)
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== '' && value !== null && value !== undefined) url.searchParams.set(name, value)
  }
  return fetch(url, { credentials: 'same-origin', cache: 'no-store' }).then((response) => {
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`)
    return response.json()
  })
}

function el (tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined && text !== null) node.textContent = String(text)
  return node
}

// -- filters ---------------------------------------------------------------------------------

function localInputToEpoch (value) {
  return value ? String(new Date(value).getTime() / 1000) : ''
}

function filters () {
  return {
    type: $('f-type').value,
    user: $('f-user').value.trim(),
    event: $('f-event').value.trim(),
    format: $('f-format').value,
    q: $('f-q').value.trim(),
    since: localInputToEpoch($('f-since').value),
    until: localInputToEpoch($('f-until').value)
  }
}

function rejectionMatches (rejection, f) {
  const message = rejection.message && typeof rejection.message === 'object' ? rejection.message : {}
  if (f.type && message.type !== f.type) return false
  if (f.user && message.userId !== f.user && message.anonymousId !== f.user) return false
  if (f.event && message.event !== f.event) return false
  return true
}

// -- rows -------------------------------------------------------------------------------------

function timeText (epoch) {
  const when = new Date(epoch * 1000)
  const sameDay = when.toDateString() === new Date().toDateString()
  const options = { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hour12: false, timeZoneName: 'short' }
  if (!sameDay) Object.assign(options, { year: 'numeric', month: '2-digit', day: '2-digit' })
  return new Intl.DateTimeFormat(undefined, options).format(when)
}

function describe (message) {
  switch (message.type) {
    case 'track': return message.event
    case 'page': case 'screen': return [message.category, message.name].filter(Boolean).join(' / ')
    case 'group': return `group ${message.groupId}`
    case 'alias': return `from ${message.previousId}`
    case 'identify': {
      const traits = (message.traits && Object.keys(message.traits).length) ? message.traits : (message.context || {}).traits || {}
      return Object.keys(traits).sort().join(', ')
    }
    default: return ''
  }
}

function fromEvent (message) {
  const received = message._received
  return {
    key: `e${received.seq}`,
    at: received.at,
    atIso: received.at_iso,
    type: received.format === 'segment' || !received.type ? message.type : received.type,
    user: received.format === 'segment' || !received.type
      ? message.userId || (message.anonymousId ? `(anon) ${message.anonymousId}` : '')
      : received.user_id || (received.anonymous_id ? `(anon) ${received.anonymous_id}` : ''),
    what: received.format === 'segment' || !received.type ? describe(message) : received.what || '',
    library: received.library || '',
    format: received.format,
    warnings: received.warnings || [],
    rejected: null,
    requestId: received.request_id,
    message
  }
}

function fromRejection (rejection) {
  const message = rejection.message && typeof rejection.message === 'object' ? rejection.message : {}
  const library = (message.context && message.context.library) || {}
  return {
    key: `r${rejection.id}`,
    at: rejection.at,
    atIso: rejection.at_iso,
    type: typeof message.type === 'string' ? message.type : '?',
    user: typeof message.userId === 'string' ? message.userId : (typeof message.anonymousId === 'string' ? `(anon) ${message.anonymousId}` : ''),
    what: describe(message),
    library: [library.name, library.version].filter(Boolean).join('/'),
    format: rejection.format,
    warnings: [],
    rejected: rejection.reason,
    requestId: rejection.request_id,
    message: rejection.message
  }
}

function renderRow (row) {
  const tr = el('tr', row.rejected ? 'row rejected' : 'row')
  tr.dataset.key = row.key
  const time = el('td', 'time', timeText(row.at))
  time.title = row.atIso
  tr.append(time)
  const type = el('td', 'type')
  type.append(el('span', `chip ${typeClass(row.type)}`, row.type))
  // A rejected message shows why in place of what it was.
  const what = row.rejected && !row.what ? el('td', 'what reason', row.rejected) : el('td', 'what', row.what)
  const user = el('td', 'user', row.user)
  const library = el('td', 'lib', row.library)
  user.title = row.user // cut with an ellipsis on narrow tables: the whole text on hover
  library.title = row.library
  tr.append(type, user, what, library, el('td', 'fmt', row.format))
  const flags = el('td', 'flags')
  if (row.rejected) {
    const badge = el('span', 'badge bad', 'rejected')
    badge.title = row.rejected
    flags.append(badge)
  } else if (row.warnings.length) flags.append(el('span', 'badge warn', `${row.warnings.length} warning${row.warnings.length > 1 ? 's' : ''}`))
  tr.append(flags)
  tr.addEventListener('click', () => select(row))
  if (state.selected === row.key) tr.classList.add('selected')
  return tr
}

function addRows (rows) {
  // A poll and a re-query after a filter change can return the same rows: keep each once.
  const known = new Set(state.rows.map((row) => row.key))
  const fresh = rows.filter((row) => !known.has(row.key) && known.add(row.key))
  if (!fresh.length) return
  state.rows = state.rows.concat(fresh).sort((a, b) => b.at - a.at || b.key.localeCompare(a.key)).slice(0, MAX_ROWS)
  const body = document.querySelector('#events tbody')
  body.replaceChildren(...state.rows.map(renderRow))
  $('empty').hidden = state.rows.length > 0
}

// -- detail ------------------------------------------------------------------------------------

function select (row) {
  state.selected = row.key
  for (const tr of document.querySelectorAll('#events tr.selected')) tr.classList.remove('selected')
  const tr = document.querySelector(`#events tr[data-key="${row.key}"]`)
  if (tr) tr.classList.add('selected')
  $('detail').hidden = false
  $('detail-title').textContent = `${row.type} · ${row.what || row.user}`
  const list = $('detail-warnings')
  list.replaceChildren()
  if (row.rejected) list.append(el('li', 'bad', `rejected: ${row.rejected}`))
  for (const warning of row.warnings) list.append(el('li', 'warn', warning))
  const shown = Object.assign({}, row.message)
  delete shown._received
  $('detail-json').textContent = JSON.stringify(shown, null, 2)
  $('detail-request').textContent = 'loading…'
  if (!row.requestId) { $('detail-request').textContent = '(not recorded)'; return }
  api(`/v1/requests/${row.requestId}`).then((request) => {
    if (state.selected !== row.key) return
    const lines = [
      `${request.method} ${request.path} → ${request.status}`,
      `received ${request.at_iso} · ${request.body_bytes.toLocaleString()} bytes · ` +
        `${request.messages} message(s): ${request.accepted} accepted, ${request.rejected} rejected`,
      ''
    ]
    for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`)
    $('detail-request').textContent = lines.join('\n')
  }).catch((error) => { $('detail-request').textContent = String(error) })
}

// -- counters and chart --------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg'

function svg (tag, attributes) {
  const node = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  return node
}

function renderChart (perMinute) {
  const chart = $('chart')
  const width = chart.clientWidth || 600
  const height = 70
  chart.setAttribute('viewBox', `0 0 ${width} ${height + 14}`)
  const max = Math.max(1, ...perMinute.map((m) => Object.values(m.by_type).reduce((a, b) => a + b, 0)))
  const slot = width / perMinute.length
  const nodes = []
  perMinute.forEach((minute, i) => {
    let y = height
    for (const type of TYPES.concat(Object.keys(minute.by_type).filter((t) => !TYPES.includes(t)))) {
      const count = minute.by_type[type] || 0
      if (!count) continue
      const h = Math.max(1, (count / max) * (height - 4))
      y -= h
      const bar = svg('rect', { x: (i * slot + 1).toFixed(1), y: y.toFixed(1), width: Math.max(1, slot - 2).toFixed(1), height: h.toFixed(1), class: `bar ${typeClass(type)}` })
      const title = svg('title', {})
      title.textContent = `${new Date(minute.minute).toLocaleTimeString()} · ${type}: ${count}`
      bar.append(title)
      nodes.push(bar)
    }
  })
  const axis = svg('text', { x: width - 2, y: height + 12, class: 'axis', 'text-anchor': 'end' })
  axis.textContent = `max ${max}/min · now`
  nodes.push(svg('line', { x1: 0, x2: width, y1: height + 0.5, y2: height + 0.5, class: 'baseline' }), axis)
  chart.replaceChildren(...nodes)
}

function renderTypes (seen) {
  // Segment's types always; any other format's types (mParticle's custom_event...) once stored.
  const types = TYPES.concat(seen.filter((type) => !TYPES.includes(type)).sort())
  const legend = $('legend')
  if (legend.dataset.types !== types.join(' ')) {
    legend.dataset.types = types.join(' ')
    legend.replaceChildren(...types.map((type) => {
      const item = el('span', 'legend-item')
      item.append(el('i', `swatch ${typeClass(type)}`), document.createTextNode(type))
      return item
    }))
  }
  const select = $('f-type')
  const listed = new Set([...select.options].map((option) => option.value))
  for (const type of types) if (!listed.has(type)) select.append(new Option(type, type))
}

function renderStats (stats) {
  $('c-accepted').textContent = stats.stored.toLocaleString()
  $('c-rejected').textContent = stats.rejected.toLocaleString()
  $('c-duplicates').textContent = stats.duplicates.toLocaleString()
  $('c-refused').textContent = stats.refused_requests.toLocaleString()
  const select = $('f-format')
  if (select.options.length === 1) {
    for (const name of stats.formats) select.append(new Option(name, name))
  }
  renderChart(stats.per_minute)
  const seen = new Set(Object.keys(stats.by_type))
  for (const minute of stats.per_minute) for (const type of Object.keys(minute.by_type)) seen.add(type)
  renderTypes([...seen])
}

// -- polling -----------------------------------------------------------------------------------------

function fetchRows (initial) {
  const f = filters()
  const generation = state.generation
  const order = initial ? { order: 'desc', limit: 200 } : { order: 'asc', limit: 500 }
  const events = api('/v1/events', Object.assign({}, f, order, { after: state.afterSeq || '' }))
  const wantRejected = $('f-rejected').checked
  const rejections = wantRejected
    ? api('/v1/rejections', Object.assign({ q: f.q, since: f.since, until: f.until, format: f.format }, order, { after: state.afterRejection || '' }))
    : Promise.resolve({ rejections: [] })
  return Promise.all([events, rejections]).then(([e, r]) => {
    if (generation !== state.generation) return // the filters changed meanwhile
    for (const message of e.events) state.afterSeq = Math.max(state.afterSeq, message._received.seq)
    for (const rejection of r.rejections) state.afterRejection = Math.max(state.afterRejection, rejection.id)
    addRows(e.events.map(fromEvent).concat(r.rejections.filter((x) => rejectionMatches(x, f)).map(fromRejection)))
  })
}

function setStatus (ok, text) {
  const status = $('status')
  status.textContent = text
  status.classList.toggle('down', !ok)
}

function poll () {
  if (state.paused) { setTimeout(poll, POLL_MS); return }
  const rows = state.refiltering ? Promise.resolve() : fetchRows(false)
  Promise.all([rows, api('/stats', { minutes: 30 }).then(renderStats)])
    .then(() => setStatus(true, '● live'))
    .catch((error) => setStatus(false, `● ${error.message}`))
    .finally(() => setTimeout(poll, POLL_MS))
}

function showActiveFilters () {
  const active = Object.values(filters()).filter(Boolean).length + ($('f-rejected').checked ? 0 : 1)
  $('filter-count').textContent = active ? `(${active} active)` : ''
}

function closeDetail () {
  $('detail').hidden = true
  state.selected = null
  for (const tr of document.querySelectorAll('#events tr.selected')) tr.classList.remove('selected')
}

function restart () {
  showActiveFilters()
  state.refiltering = false
  state.generation += 1
  state.rows = []
  state.afterSeq = 0
  state.afterRejection = 0
  document.querySelector('#events tbody').replaceChildren()
  $('empty').hidden = false
  return fetchRows(true).catch((error) => setStatus(false, `● ${error.message}`))
}

function debounce (fn, ms) {
  let timer = null
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms) }
}

function start () {
  $('time-head').textContent = `received (${ZONE})`
  const restartSoon = debounce(restart, 250)
  // A poll already on its way used the old filters: its answer is dropped (a new generation).
  const refilter = () => { state.refiltering = true; state.generation += 1; restartSoon() }
  for (const id of ['f-type', 'f-format', 'f-since', 'f-until', 'f-rejected']) $(id).addEventListener('change', refilter)
  for (const id of ['f-user', 'f-event', 'f-q']) $(id).addEventListener('input', refilter)
  $('filters').addEventListener('submit', (event) => event.preventDefault())
  $('pause').addEventListener('click', () => {
    state.paused = !state.paused
    $('pause').textContent = state.paused ? 'Resume' : 'Pause'
    setStatus(true, state.paused ? '❚❚ paused' : '● live')
  })
  $('detail-close').addEventListener('click', closeDetail)
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape') closeDetail() })
  // A phone gets the table first; the filters unfold from their summary line.
  if (window.matchMedia(NARROW).matches) $('filter-box').open = false
  renderTypes([])
  restart().then(poll)
}

document.addEventListener('DOMContentLoaded', start)
