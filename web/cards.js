// The meter cards and the outputs card. Every piece of text from the daemon goes into the page
// as a text node (el() below), never as HTML, so a meter name or an error message cannot inject
// markup. Values are shown exactly as the daemon wrote them (exact.js keeps number tokens as
// text).

// el('td', {class: 'v'}, 'text', childNode, ...): an element with attributes and children;
// strings become text nodes, null/undefined/false children are skipped.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// "2026-12-05 14:25:03" in the browser's time zone: unambiguous in every language.
export function formatTime(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
         `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

// "3 s ago", "5 min ago", "2 h ago", "4 d ago".
export function formatAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// A register's shown value: the exact number, else its text (dates, clock times), else a dash.
export function shownValue(r) {
  if (r.text !== undefined && r.text !== null) return String(r.text);
  if (r.value !== undefined && r.value !== null) return String(r.value);
  return '—';
}

function stateClass(m) {
  if (m.up) return 'ok';
  return /asleep|no answer|silent|timeout/i.test(m.state || '') ? 'warn' : 'bad';
}

function list(label, items, cls) {
  if (!Array.isArray(items) || items.length === 0) return null;
  return el('p', {class: cls}, el('span', {class: 'label'}, label + ': '),
            items.map((f, i) => [i ? ', ' : null, el('code', {}, String(f))]));
}

function valuesTable(poll) {
  const rows = (poll && poll.registers) || [];
  if (rows.length === 0) return el('p', {class: 'empty'}, 'no reading yet');
  return el('table', {class: 'values'}, el('tbody', {}, rows.map((r) => el(
      'tr', {'data-register': r.name},
      el('th', {scope: 'row'}, r.name),
      el('td', {class: 'v'}, shownValue(r),
         Array.isArray(r.flags) && r.flags.length
             ? el('span', {class: 'flags'}, ' ' + r.flags.join(', ')) : null),
      el('td', {class: 'u'}, r.unit || '')))));
}

function storeLine(store) {
  if (!store || typeof store !== 'object') return null;
  const errors = Number(store.errors || 0);
  return el('p', {class: 'store ' + (store.state === 'ok' && errors === 0 ? 'ok' : 'bad')},
            el('span', {class: 'label'}, 'store: '), String(store.state ?? '?'),
            errors ? ` (${store.errors} errors)` : null);
}

// One meter's card (an <article data-meter=NAME>) from its /api/meters entry, with `last`
// replaced by the newest poll the page has (from /api/live) when there is one.
export function meterCard(m, now = Date.now()) {
  const poll = m.last;
  const time = poll && poll.time;
  const meta = [m.model, m.serial ? `serial ${m.serial}` : null, m.port].filter(Boolean).join(' · ');
  return el('article', {class: 'card meter', 'data-meter': m.name},
    el('header', {},
       el('h2', {}, m.name),
       el('span', {class: 'state ' + stateClass(m), title: m.state || ''},
          m.up ? 'answering' : m.state || 'not answering')),
    meta ? el('p', {class: 'meta'}, meta) : null,
    valuesTable(poll),
    time ? el('p', {class: 'time'}, 'read ',
              el('time', {datetime: time, title: time}, formatTime(time)),
              ' ', el('span', {class: 'age', 'data-time': time}, '(' + formatAge(now - Date.parse(time)) + ')'),
              poll.source && poll.source !== 'poll' ? ` from the ${poll.source}` : null) : null,
    list('info', m.info_flags, 'info-flags'),
    list('unsupported registers', m.unsupported, 'unsupported'),
    storeLine(m.store));
}

// The outputs card from /api/outputs: delivery health per output.
export function outputsCard(outputs) {
  if (!Array.isArray(outputs) || outputs.length === 0) return null;
  const head = ['output', 'delivered', 'backlog', 'failures', 'last error'];
  return el('article', {class: 'card outputs'},
    el('header', {}, el('h2', {}, 'Outputs')),
    el('table', {class: 'outputs'},
       el('thead', {}, el('tr', {}, head.map((h) => el('th', {scope: 'col'}, h)))),
       el('tbody', {}, outputs.map((o) => el('tr', {'data-output': o.id,
                                                    class: o.last_error ? 'bad' : 'ok'},
         el('th', {scope: 'row'}, o.id),
         el('td', {}, String(o.delivered)),
         el('td', {}, String(o.backlog)),
         el('td', {}, String(o.failures)),
         el('td', {class: 'err'}, o.last_error || o.last_rejection || o.last_refusal || ''))))));
}

// Refreshes the "(3 s ago)" of every card.
export function updateAges(root, now = Date.now()) {
  for (const e of root.querySelectorAll('.age[data-time]')) {
    e.textContent = '(' + formatAge(now - Date.parse(e.dataset.time)) + ')';
  }
}
