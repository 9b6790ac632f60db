# Build, install and package build-verify.
#   make                          build the tools (release), their man pages and completions
#   make install PREFIX=/usr DESTDIR=/tmp/pkg
#                                 copy what `make` built; never builds (run it as root
#                                 after `make` as yourself: cargo never runs as root)
#   make uninstall PREFIX=/usr DESTDIR=/tmp/pkg   remove everything install put
#   make check                    cargo test
#   make dist                     dist/build-verify-VERSION.tar.xz (+ .sha256): the
#                                 committed tree (HEAD) with vendored crates and the
#                                 packaging, byte-for-byte reproducible
#   make qubes-pin                the Qubes component's pin of that tarball
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# Scripts run by other programs (qrexec, ssh forced commands, Qubes Builder),
# not by users from PATH: /usr/lib/build-verify as the docs name it.
PKGLIBDIR ?= $(PREFIX)/lib/build-verify
PKGDATADIR ?= $(DATADIR)/build-verify
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# Debian's zsh reads vendor-completions (debian/rules sets it); Fedora's and
# upstream zsh's site-functions.
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
INSTALL ?= install

CARGO ?= cargo
# Packages build with --frozen (vendored crates, no network).
CARGO_FLAGS ?= --locked
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR

TOP := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VERSION := $(shell cat $(TOP)/version)
# Every binary of the package is a tool: a new src/bin/NAME.rs (or
# src/bin/NAME/main.rs, cargo's form for a binary of several files) is
# built, documented, installed and uninstalled with nothing to add here.
TOOLS := $(sort $(basename $(notdir $(wildcard $(TOP)/src/bin/*.rs))) \
  $(notdir $(patsubst %/,%,$(dir $(wildcard $(TOP)/src/bin/*/main.rs)))))
BIN := $(CARGO_TARGET_DIR)/release
DOCS := $(CARGO_TARGET_DIR)/docs
# contrib files the packages install (README.md and contrib/qubes/README.md
# name these paths).
QUBES_SERVICES := $(wildcard $(TOP)/contrib/qubes/qubes.*)
QUBES_POLICIES := $(wildcard $(TOP)/contrib/qubes/*.policy)
# Qubes Builder v2: the drop-ins, and the plugin that selects them
# (builder.yml's plugins-dirs: $(PKGLIBDIR)/qubes-builderv2/plugins).
BUILDERV2 := download-file verify-file get-and-verify-source.py
BUILDERV2_PLUGIN := plugins/build_verify

.PHONY: all build docs install uninstall check clean dist qubes-pin
all: build docs

build:
	$(CARGO) build --release $(CARGO_FLAGS) --bins --manifest-path $(TOP)/Cargo.toml

# Man pages and completions come from the clap definitions (never drift).
docs: build
	rm -rf $(DOCS)
	set -e; for t in $(TOOLS); do BUILD_VERIFY_GEN_DOCS=$(DOCS) $(BIN)/$$t; done

# install copies only: it must not build (root running cargo would write
# root-owned files into target/ and run build scripts as root), so what
# `make` did not build is an error, not a build.
install:
	@missing=; for t in $(TOOLS); do \
	  [ -x $(BIN)/$$t ] || missing="$$missing $(BIN)/$$t"; \
	  [ -f $(DOCS)/man1/$$t.1 ] || missing="$$missing $(DOCS)/man1/$$t.1"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make install: not built:$$missing" >&2; \
	  echo "make install: run 'make' first (as yourself; install never runs cargo)" >&2; \
	  exit 1; \
	fi
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(PKGDATADIR)/make $(DESTDIR)$(PKGDATADIR)/qubes \
	  $(DESTDIR)$(PKGLIBDIR)/qubes-builderv2/$(BUILDERV2_PLUGIN) \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL) -m 0755 $(addprefix $(BIN)/,$(TOOLS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(DOCS)/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(addprefix $(DOCS)/bash-completion/completions/,$(TOOLS)) $(DESTDIR)$(BASHCOMPDIR)/
	$(INSTALL) -m 0644 $(addprefix $(DOCS)/zsh/site-functions/_,$(TOOLS)) $(DESTDIR)$(ZSHCOMPDIR)/
	$(INSTALL) -m 0644 $(addsuffix .fish,$(addprefix $(DOCS)/fish/vendor_completions.d/,$(TOOLS))) $(DESTDIR)$(FISHCOMPDIR)/
	$(INSTALL) -m 0644 $(TOP)/make/*.mk $(DESTDIR)$(PKGDATADIR)/make/
	$(INSTALL) -m 0755 $(QUBES_SERVICES) $(TOP)/contrib/qubes/verify-git-tag $(DESTDIR)$(PKGLIBDIR)/
	$(INSTALL) -m 0644 $(QUBES_POLICIES) $(DESTDIR)$(PKGDATADIR)/qubes/
	$(INSTALL) -m 0755 $(addprefix $(TOP)/contrib/qubes-builderv2/,$(BUILDERV2)) $(DESTDIR)$(PKGLIBDIR)/qubes-builderv2/
	$(INSTALL) -m 0644 $(TOP)/contrib/qubes-builderv2/$(BUILDERV2_PLUGIN)/__init__.py $(DESTDIR)$(PKGLIBDIR)/qubes-builderv2/$(BUILDERV2_PLUGIN)/

# Everything install put, and nothing else: the tools' own files by name
# (man pages of subcommands are TOOL-SUB.1), the package's directories whole.
uninstall:
	@for d in $(PKGDATADIR) $(PKGLIBDIR); do case "$$d" in */build-verify) ;; \
	  *) echo "make uninstall: $$d is not a build-verify directory; not removing it" >&2; exit 1 ;; esac; done
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS)) \
	  $(foreach t,$(TOOLS),$(DESTDIR)$(MANDIR)/man1/$(t).1 $(DESTDIR)$(MANDIR)/man1/$(t)-*.1) \
	  $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(TOOLS)) \
	  $(addprefix $(DESTDIR)$(ZSHCOMPDIR)/_,$(TOOLS)) \
	  $(addsuffix .fish,$(addprefix $(DESTDIR)$(FISHCOMPDIR)/,$(TOOLS)))
	rm -rf $(DESTDIR)$(PKGDATADIR) $(DESTDIR)$(PKGLIBDIR)

check:
	$(CARGO) test $(CARGO_FLAGS)

dist:
	$(TOP)/contrib/dist/make-dist $(TOP) $(TOP)/dist

# The Qubes component pins the release tarball by a bare SHA-256 in
# build-verify-VERSION.tar.xz.sha256 (.qubesbuilder's source files list).
qubes-pin: dist
	cut -d' ' -f1 $(TOP)/dist/build-verify-$(VERSION).tar.xz.sha256 > $(TOP)/build-verify-$(VERSION).tar.xz.sha256

clean:
	$(CARGO) clean
	rm -rf $(TOP)/dist
