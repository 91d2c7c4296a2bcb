// Unit tests of the dashboard's modules (web/), run in Chromium by js_test.py: the exact JSON
// parser, the API-to-chart mapping, and the cards' escaping. Results land in window.unitResults.
import {parseExact} from '../../web/exact.js';
import * as series from '../../web/series.js';
import {meterCard, outputsCard, formatAge, shownValue} from '../../web/cards.js';

const results = {passed: 0, failed: []};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function test(name, fn) {
  try {
    fn();
    results.passed += 1;
  } catch (e) {
    results.failed.push(`${name}: ${e.message}`);
  }
}
function eq(actual, expected, what = '') {
  if (!same(actual, expected)) {
    throw new Error(`${what} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}
function throws(fn, what) {
  try {
    fn();
  } catch (e) {
    return;
  }
  throw new Error(`${what}: did not throw`);
}

// --- exact.js ---

test('numbers keep their text', () => {
  eq(parseExact('{"a": 70.00, "b": [0.100, -1.5e-3, 1959120400000000000000000, 0, -0], "c": 7}'),
     {a: '70.00', b: ['0.100', '-1.5e-3', '1959120400000000000000000', '0', '-0'], c: '7'});
});
test('strings, escapes and literals pass through', () => {
  eq(parseExact('{"s": "x 1.0 \\"2.0\\" \\\\", "t": 3.10, "n": null, "b": [true, false], "u": "\\u00b0C"}'),
     {s: 'x 1.0 "2.0" \\', t: '3.10', n: null, b: [true, false], u: '°C'});
  eq(parseExact('"55.006"'), '55.006');
  eq(parseExact(' [ 1 , 2.50 ] '), ['1', '2.50']);
});
test('bad numbers and bad JSON are errors', () => {
  for (const bad of ['01', '1.', '-', '1.2.3', '.5', '1e', '+1', '[1,]', '{"a" 1}', '']) {
    throws(() => parseExact(bad), bad);
  }
});
test('a poll as the daemon writes it', () => {
  const poll = parseExact('{"meter": "heat", "time": "2026-12-05T14:25:00.123Z", "source": "poll", ' +
      '"registers": [{"id": 60, "name": "heat_energy", "value": 55.000, "unit": "MWh"}, ' +
      '{"id": 1003, "name": "date", "value": 261205, "unit": "yy:mm:dd", "text": "2026-12-05"}]}');
  eq(poll.registers[0].value, '55.000');
  eq(shownValue(poll.registers[0]), '55.000');
  eq(shownValue(poll.registers[1]), '2026-12-05');
  eq(shownValue({name: 'x', value: null, unit: ''}), '—');
});

// --- series.js ---

const raw = {meter: 'heat', register: 'temp1', unit: '°C', quantity: 'temperature', cumulative: false,
             step: 'raw', points: [
               {time: '2026-10-25T10:05:00.250Z', value: '70.00', value_num: 70.0},
               {time: '2026-10-25T10:06:00.250Z', value: '70.10', value_num: 70.1}]};
const hourly = {meter: 'heat', register: 'temp2', unit: '°C', quantity: 'temperature', cumulative: false,
                step: 'hour', points: [
                  {time: '2026-10-25T10:00:00Z', min: '39.50', max: '40.40', mean: '39.950',
                   min_num: 39.5, max_num: 40.4, mean_num: 39.95, count: 12}]};
const energy = {meter: 'heat', register: 'heat_energy', unit: 'MWh', quantity: 'energy', cumulative: true,
                step: 'day', points: [
                  {time: '2026-10-24T22:00:00Z', first: '55.006', last: '55.210', consumption: '0.204',
                   first_num: 55.006, last_num: 55.21, consumption_num: 0.204}]};

test('history points: raw, gauge buckets, counter buckets', () => {
  const t0 = Date.UTC(2026, 9, 25, 10, 5, 0, 250);
  eq(series.historyPoints(raw).points, [[t0, 70.0], [t0 + 60000, 70.1]]);
  eq(series.historyPoints(raw).bars, false);
  eq(series.historyPoints(hourly).points, [[Date.UTC(2026, 9, 25, 10), [39.5, 39.95, 40.4]]]);
  eq(series.historyPoints(hourly).bars, true);
  eq(series.historyPoints(energy).points, [[Date.UTC(2026, 9, 24, 22), 0.204]]);
  eq(series.historyPoints(energy).bars, false);
  eq(series.historyPoints({...raw, points: [{time: '2026-10-25T10:05:00Z', value: null, value_num: null}]})
       .points, [[Date.UTC(2026, 9, 25, 10, 5), null]]);
});
test('merged on time with nulls; bars promote plain numbers', () => {
  const a = {points: [[1, 10], [3, 30]], bars: false};
  const b = {points: [[2, 20], [3, 31]], bars: false};
  eq(series.mergeSeries([a, b]), [[1, 10, null], [2, null, 20], [3, 30, 31]]);
  const c = {points: [[2, [1, 2, 3]]], bars: true};
  eq(series.mergeSeries([a, c]), [[1, [10, 10, 10], null], [2, null, [1, 2, 3]], [3, [30, 30, 30], null]]);
  eq(series.mergeSeries([]), []);
});
test('consumption per day', () => {
  const resp = {meter: 'heat', register: 'heat_energy', unit: 'MWh', period: 'day', buckets: [
    {start: '2026-10-25T00:00:00+02:00', end: '2026-10-26T00:00:00+01:00', consumption: '0.204',
     consumption_num: 0.204, complete: true, resets: 0},
    {start: '2026-10-26T00:00:00+01:00', end: '2026-10-27T00:00:00+01:00', consumption: '0.010',
     consumption_num: 0.01, complete: false, resets: 0}]};
  const b = series.consumptionBars(resp);
  eq(b.rows, [[Date.UTC(2026, 9, 24, 22), 0.204], [Date.UTC(2026, 9, 25, 23), 0.01]]);
  eq(b.complete, [true, false]);
  eq(b.exact, ['0.204', '0.010']);
});
test('this year against last year by the bucket\'s own local month', () => {
  const bucket = (start, c) => ({start, end: '', consumption: String(c), consumption_num: c, complete: true});
  const resp = {register: 'volume', unit: 'm³', period: 'month', buckets: [
    bucket('2024-12-01T00:00:00+01:00', 9), bucket('2025-01-01T00:00:00+01:00', 1),
    bucket('2025-10-01T00:00:00+02:00', 2), bucket('2026-01-01T00:00:00+01:00', 3),
    bucket('2026-03-01T00:00:00+01:00', 4)]};
  const y = series.yearOverYear(resp, 2026);
  eq(y.labels, ['2025', '2026']);
  eq(y.rows.length, 12);
  eq(y.rows[0], [1, 1, 3]);
  eq(y.rows[2], [3, null, 4]);
  eq(y.rows[9], [10, 2, null]);
  eq(y.rows[11], [12, null, null]);  // 2024 is neither year
  eq(y.exact[0], ['1', '3']);
});
test('a live poll as a chart row', () => {
  const poll = {meter: 'heat', time: '2026-12-05T14:25:00.123Z', registers: [
    {name: 'temp1', value: '70.00'}, {name: 'date', value: '261205', text: '2026-12-05'},
    {name: 'power', value: null}]};
  const t = Date.UTC(2026, 11, 5, 14, 25, 0, 123);
  eq(series.pollRow(poll, ['temp1', 'temp2']), [t, 70, null]);
  eq(series.pollRow(poll, ['date', 'power']), null);
});
test('line charts group registers by quantity', () => {
  const s = (register, quantity, cumulative = false) => ({register, quantity, cumulative, points: []});
  const groups = series.lineGroups([
    s('temp_diff', 'temperature_difference'), s('heat_energy', 'energy', true), s('pressure1', 'pressure'),
    s('temp1', 'temperature'), s('info', 'info'), s('flow', 'flow'), s('power', 'power'),
    s('voltage', 'voltage'), s('hour_counter', 'duration', true)]);
  eq(groups.map((g) => [g.quantity, g.series.map((x) => x.register)]),
     [['power', ['power']], ['flow', ['flow']], ['temperature', ['temp_diff', 'temp1']],
      ['pressure', ['pressure1']], ['voltage', ['voltage']]]);
  eq(series.hasConsumption(s('heat_energy', 'energy', true)), true);
  eq(series.hasConsumption(s('volume', 'volume', true)), true);
  eq(series.hasConsumption(s('hour_counter', 'duration', true)), false);
  eq(series.hasConsumption(s('power', 'power')), false);
});

// --- cards.js ---

test('text from the daemon never becomes markup', () => {
  const evil = '<img src=x onerror="window.pwned=1"><b>x</b>';
  const card = meterCard({name: evil, port: evil, up: false, state: evil, serial: '1', model: evil,
                          info_flags: [evil], unsupported: [evil], store: {state: evil, errors: 2},
                          last: {time: '2026-12-05T14:25:00Z', registers: [
                            {name: evil, value: '70.00', unit: evil}]}});
  eq(card.querySelectorAll('img, b, script').length, 0, 'elements');
  eq(card.querySelector('h2').textContent, evil);
  eq(card.querySelector('.state').textContent, evil);
  eq(card.querySelector('tr th').textContent, evil);
  eq(card.querySelector('td.v').textContent, '70.00');
  eq(card.querySelector('.info-flags code').textContent, evil);
  eq(card.querySelector('.unsupported code').textContent, evil);
  eq(card.querySelector('.store').textContent, `store: ${evil} (2 errors)`);
  const out = outputsCard([{id: evil, delivered: 1, backlog: 0, failures: 0, last_error: evil}]);
  eq(out.querySelectorAll('img, b, script').length, 0, 'output elements');
  eq(out.querySelector('td.err').textContent, evil);
  eq(window.pwned, undefined);
});
test('a card without readings or the optional fields', () => {
  const card = meterCard({name: 'heat', port: '/dev/ttyUSB0', up: false,
                          state: 'no answer: the meter is asleep', serial: '', model: '', last: null});
  eq(card.querySelector('.empty').textContent, 'no reading yet');
  eq(card.querySelector('.state').className, 'state warn');
  eq(card.querySelector('.meta').textContent, '/dev/ttyUSB0');
  eq(card.querySelectorAll('.info-flags, .unsupported, .store, time').length, 0);
  eq(outputsCard([]), null);
  const up = meterCard({name: 'w', up: true, state: 'answering', store: {state: 'ok', errors: 0},
                        info_flags: [], last: {time: '2026-12-05T14:25:00Z', source: 'logger',
                                               registers: [{name: 'info', value: '0', unit: '',
                                                            flags: ['t1_above_range']}]}});
  eq(up.querySelector('.state').className, 'state ok');
  eq(up.querySelector('.store').className, 'store ok');
  eq(up.querySelector('td.v .flags').textContent, ' t1_above_range');
  eq(up.querySelector('.time').textContent.endsWith('from the logger'), true);
});
test('ages', () => {
  eq(formatAge(0), '0 s ago');
  eq(formatAge(89000), '89 s ago');
  eq(formatAge(5 * 60000), '5 min ago');
  eq(formatAge(3 * 3600000), '3 h ago');
  eq(formatAge(4 * 86400000), '4 d ago');
});

window.unitResults = results;
