// JSON with exact numbers: the daemon writes a meter's values as number tokens that carry the
// meter's own digits (`70.00`, `0.100`, `1959120400000000000000000`, docs/formats.md). JSON.parse
// would turn them into doubles and lose that (`70`, `0.1`, `1.9591204e+24`), so every number
// token is kept as its text instead: parseExact('{"value": 70.00}') gives {value: "70.00"}.
// Anything that needs arithmetic converts explicitly.

const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export function parseExact(text) {
  const out = [];
  let start = 0;  // text[start, i) is copied as it is
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {  // a string: skip it whole, escapes included
      ++i;
      while (i < n && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      ++i;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {  // '-' or a digit: a number token
      let j = i + 1;
      while (j < n && /[0-9eE+\-.]/.test(text[j])) ++j;
      const token = text.slice(i, j);
      if (!NUMBER.test(token)) throw new SyntaxError(`bad number in JSON: ${token}`);
      out.push(text.slice(start, i), '"', token, '"');
      start = i = j;
    } else {
      ++i;
    }
  }
  out.push(text.slice(start));
  return JSON.parse(out.join(''));
}
