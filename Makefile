# Build and install build-verify.
#   make                          build the five tools (release)
#   make install PREFIX=/usr DESTDIR=/tmp/pkg
#   make check                    cargo test
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
CARGO ?= cargo
CARGO_TARGET_DIR ?= target
TOOLS := verify-tag fetch-verified check-hashes sign-log verify-package
BIN := $(CARGO_TARGET_DIR)/release
DOCS := $(CARGO_TARGET_DIR)/docs

.PHONY: all build docs install uninstall check clean
all: build

build:
	$(CARGO) build --release --locked --bins

# Man pages and completions come from the clap definitions (never drift).
docs: build
	rm -rf $(DOCS)
	set -e; for t in $(TOOLS); do BUILD_VERIFY_GEN_DOCS=$(DOCS) $(BIN)/$$t; done

install: build docs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(DATADIR)/build-verify/make \
	  $(DESTDIR)$(DATADIR)/bash-completion/completions \
	  $(DESTDIR)$(DATADIR)/zsh/site-functions \
	  $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 0755 $(addprefix $(BIN)/,$(TOOLS)) $(DESTDIR)$(BINDIR)/
	install -m 0644 make/*.mk $(DESTDIR)$(DATADIR)/build-verify/make/
	install -m 0644 $(DOCS)/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(DOCS)/bash-completion/completions/* $(DESTDIR)$(DATADIR)/bash-completion/completions/
	install -m 0644 $(DOCS)/zsh/site-functions/* $(DESTDIR)$(DATADIR)/zsh/site-functions/
	install -m 0644 $(DOCS)/fish/vendor_completions.d/* $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS)) \
	  $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(addsuffix .1,$(TOOLS))) \
	  $(DESTDIR)$(MANDIR)/man1/sign-log-*.1
	rm -rf $(DESTDIR)$(DATADIR)/build-verify

check:
	$(CARGO) test

clean:
	$(CARGO) clean
