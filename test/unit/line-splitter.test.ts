import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/util/line-splitter.js';

describe('LineSplitter', () => {
  it('joins lines split across chunks, drops blank ones and holds an unfinished one', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push('{"a":1}\n{"b"');
    s.push(':2}\n\n  \n{"c":');
    expect(lines).toEqual(['{"a":1}', '{"b":2}']);
    s.push('3}\n');
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });
});
