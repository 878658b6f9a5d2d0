import assert from "node:assert/strict";
import { qualifiedName, quoteIdent, readIdent, splitQualifiedName } from "./ident.ts";
import { QUOTED_KEYWORDS } from "./keywords.ts";

Deno.test("quoteIdent() leaves plain lowercase names bare", () => {
  for (const name of ["orders", "_x", "t_1", "a1b2", "copy", "begin", "name", "data"]) {
    assert.equal(quoteIdent(name), name);
  }
});

Deno.test("quoteIdent() quotes reserved, column-name and type/function-name keywords", () => {
  for (const name of ["user", "select", "table", "order", "int", "between", "left", "json_table"]) {
    assert.equal(quoteIdent(name), `"${name}"`);
  }
  assert.equal(QUOTED_KEYWORDS.size, 164);
});

Deno.test("quoteIdent() quotes uppercase, digits first, $, spaces and doubles quotes", () => {
  assert.equal(quoteIdent("Orders"), '"Orders"');
  assert.equal(quoteIdent("1st"), '"1st"');
  assert.equal(quoteIdent("a$b"), '"a$b"');
  assert.equal(quoteIdent("my table"), '"my table"');
  assert.equal(quoteIdent('a"b'), '"a""b"');
  assert.equal(quoteIdent("ünïcode"), '"ünïcode"');
  assert.equal(quoteIdent(""), '""');
});

Deno.test("qualifiedName() joins two quoted parts", () => {
  assert.equal(qualifiedName("public", "user"), 'public."user"');
  assert.equal(qualifiedName("MixedCase", "OrderItems"), '"MixedCase"."OrderItems"');
});

Deno.test("readIdent() reads quoted names as written and folds bare ones to lowercase", () => {
  assert.deepEqual(readIdent('CREATE ROLE "user";', 12), { name: "user", end: 18 });
  assert.deepEqual(readIdent('"a""b" x', 0), { name: 'a"b', end: 6 });
  assert.deepEqual(readIdent("Public.t", 0), { name: "public", end: 6 });
  assert.deepEqual(readIdent("s$1.t", 0), { name: "s$1", end: 3 });
  assert.deepEqual(readIdent("ÉCOLE x", 0), { name: "École", end: 5 });
  assert.equal(readIdent('"unterminated', 0), undefined);
  assert.equal(readIdent('""', 0), undefined);
  assert.equal(readIdent("1abc", 0), undefined);
  assert.equal(readIdent("(x", 0), undefined);
  const long = "a".repeat(300);
  assert.deepEqual(readIdent(long + " ", 0), { name: long, end: 300 });
});

Deno.test("splitQualifiedName() reads keys written by any version, and quoteIdent() round-trips", () => {
  assert.deepEqual(splitQualifiedName("public.user"), ["public", "user"]);
  assert.deepEqual(splitQualifiedName('"MixedCase"."OrderItems"'), ["MixedCase", "OrderItems"]);
  assert.deepEqual(splitQualifiedName("s$1.t_2"), ["s$1", "t_2"]);
  assert.deepEqual(splitQualifiedName('public."a.b"'), ["public", "a.b"]);
  assert.equal(splitQualifiedName("public"), undefined);
  assert.equal(splitQualifiedName("a.b.c"), undefined);
  for (const [s, t] of [["public", "user"], ["Ä b", 'q"q'], ["x", "1"], ["a.b", "c$"]]) {
    assert.deepEqual(splitQualifiedName(qualifiedName(s!, t!)), [s, t]);
  }
});
