# Entry points for people and CI. Every target installs what it needs first (idempotent).
DENO ?= deno

.PHONY: setup test demo stack bench

setup:
	bash scripts/setup.sh

test: setup
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check backup.ts restore_drill.ts lib/ tests/ scripts/
	$(DENO) task test

demo: setup
	$(DENO) run --allow-all scripts/demo.ts

stack: setup
	$(DENO) run --allow-all scripts/stack.ts

bench: setup
	$(DENO) task bench
