# build-verify.mk — source verification and signed logs for component Makefiles.
#
#   BUILD_VERIFY_MK ?= /usr/share/build-verify/make
#   -include $(BUILD_VERIFY_MK)/build-verify.mk
#   ifndef BUILD_VERIFY_LOADED
#   get-sources verify-sources:
#   	@echo "$(BUILD_VERIFY_MK)/build-verify.mk: not found; install build-verify or set BUILD_VERIFY_MK" >&2; exit 2
#   endif
#
#   $(eval $(call fetch-verified-rule,foo-1.0.tar.gz,https://example.org/foo-1.0.tar.gz,https://example.org/foo-1.0.tar.gz.asc,keys/upstream.asc))
#   $(eval $(call fetch-decompressed-rule,linux-6.1.tar,https://cdn.example.org/linux-6.1.tar.xz,https://cdn.example.org/linux-6.1.tar.sign,keys/a.asc keys/b.asc))
#   $(eval $(call fetch-hashed-rule,bar-2.0.tar.xz,https://example.org/bar-2.0.tar.xz,bar-2.0.tar.xz.sha512))
#   $(eval $(call fetch-hashed-urls,https://example.org/a-1.tar.gz https://example.org/b-2.tar.gz))
#   $(eval $(call fetch-package-rule,foo-1.0-1.fc40.src.rpm,https://example.org/foo-1.0-1.fc40.src.rpm,keys/RPM-GPG-KEY-fedora-40-primary))
#   $(eval $(call rpm-repo-rule,repo/qubes,https://yum.example/r4.2/current/host/fc41,Packages/q/qubes-core-dom0-4.2.1-1.fc41.x86_64.rpm,keys/RPM-GPG-KEY-qubes))
#   get-sources: $(BUILD_VERIFY_SOURCES)
#
# `-include` and the fallback rule: Qubes Builder v1 runs `make -n
# get-sources verify-sources` and takes a failure for "no sources to
# fetch", silently; a missing fragment must fail get-sources itself.
#
# Every fetched file is downloaded to FILE.UNTRUSTED (Qubes' convention, so a
# `*.UNTRUSTED` pattern in .gitignore covers it), verified and only then
# renamed (fetch-verified). The signature it verified with is kept beside it
# under the signature URL's name (linux-6.1.tar.sign, as the original Qubes
# Makefiles kept it, so their .gitignore patterns cover it). A file already
# present is never trusted because it exists: `get-sources` and
# `verify-sources` re-verify it against the kept signature or pin, without
# the network, and one that fails is deleted and stops make. Failures stop
# make: no recipe here runs a verifier in a subshell whose status is lost.

# The directory of this fragment, so further fragments find each other.
BUILD_VERIFY_MK := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
# Set once the fragment is read: the includer's fallback tests it.
BUILD_VERIFY_LOADED := 1
# Including this file must not change the includer's default goal.
bv-saved-goal := $(.DEFAULT_GOAL)

# The tools; set them before the include or on the command line.
FETCH_VERIFIED ?= fetch-verified
CHECK_HASHES ?= check-hashes
VERIFY_TAG ?= verify-tag
VERIFY_PACKAGE ?= verify-package
SIGN_LOG ?= sign-log
# The user's flags (command line, environment), given last so they win.
FETCH_VERIFIED_FLAGS ?=
CHECK_HASHES_FLAGS ?=
VERIFY_TAG_FLAGS ?=
# The component's own flags for every fetch, set in its Makefile: a
# FETCH_VERIFIED_FLAGS given on the make command line does not drop them.
BUILD_VERIFY_FETCH_FLAGS ?=
# Default keyrings (space-separated) of a rule whose KEYRING argument is empty.
BUILD_VERIFY_KEYRING ?=
# Mirrors tried before each upstream URL, for the file and its SIG
# (fetch-verified reads it from the environment).
DISTFILES_MIRROR ?=
export DISTFILES_MIRROR
# Non-empty: the mirrors replace upstream (the original Qubes components'
# DISTFILES_MIRROR), fetch-verified --mirror-only.
BUILD_VERIFY_MIRROR_ONLY ?=
# The untrusted name's suffix; clean-sources removes FILE$(suffix) too.
BUILD_VERIFY_UNTRUSTED_SUFFIX ?= .UNTRUSTED
# Further files (or patterns) clean-sources removes.
BUILD_VERIFY_CLEAN ?=

# Every file a rule below fetches; `get-sources: $(BUILD_VERIFY_SOURCES)`.
BUILD_VERIFY_SOURCES :=
# The signatures kept beside them (clean-sources removes them).
BUILD_VERIFY_KEPT :=

# A half-written target is deleted when its recipe fails.
.DELETE_ON_ERROR:

# A mistake in the Makefile stops make with its message, except under
# `make -n`: Qubes Builder v1 takes a failing `make -n get-sources` for "no
# sources" and goes on silently, so there the message waits for bv-check,
# whose recipe (get-sources, verify-sources, every fetched file) fails.
bv-dry-run := $(findstring n,$(firstword $(filter-out --%,-$(MAKEFLAGS))))
bv-errors :=
bv-fail = $(if $(bv-dry-run),$(eval bv-errors += $(call bv-quote,$(1)))failed,$(error build-verify: $(1)))
# Make cannot express file names with spaces: refuse them loudly.
bv-check-name = $(if $(word 2,$(1)),$(call bv-fail,"$(1)": file names with spaces are not supported by make))
bv-need = $(if $(strip $(2)),,$(call bv-fail,$(1) is empty for $(3)))
# A literal '#': URLs may carry a #/NAME fragment, which eval would read as
# a comment; rule text refers to it as $(bv-hash) instead.
bv-hash := \#
bv-esc = $(subst $(bv-hash),$$(bv-hash),$(1))
# One shell word, single-quoted (URLs hold '&', '?', ';').
bv-quote = '$(subst ','\'',$(1))'
# The file name a URL saves to: after a #/ fragment, else its last segment.
bv-url-name = $(if $(findstring $(bv-hash)/,$(1)),$(lastword $(subst $(bv-hash)/, ,$(1))),$(notdir $(firstword $(subst ?, ,$(1)))))
bv-keyrings = $(foreach k,$(or $(strip $(1)),$(BUILD_VERIFY_KEYRING)),--keyring $(k))
# Where the SIG of FILE ($(1)) is kept: SIG ($(2)) itself when it is a local
# path, else the SIG URL's name in FILE's directory.
bv-kept-sig = $(if $(findstring ://,$(2)),$(patsubst ./%,%,$(dir $(1)))$(call bv-url-name,$(2)),$(2))
# Every fetch: the tool, the fragment's and the component's flags, then the
# rule's (arguments), then the user's FETCH_VERIFIED_FLAGS.
bv-fetch = $(FETCH_VERIFIED) $(if $(filter-out .UNTRUSTED,$(BUILD_VERIFY_UNTRUSTED_SUFFIX)),--untrusted-suffix $(BUILD_VERIFY_UNTRUSTED_SUFFIX)) $(if $(strip $(BUILD_VERIFY_MIRROR_ONLY)),--mirror-only) $(BUILD_VERIFY_FETCH_FLAGS)

# The rules strip their arguments: `$(call fetch-hashed-rule, a, b, c)` (a
# space after each comma) means what it says.

# $(call fetch-verified-rule,FILE,URL,SIG-URL,KEYRINGS[,EXTRA-FLAGS])
# FILE is fetched from URL and must carry a good signature (SIG-URL: a URL or a
# local path) by a key in KEYRINGS (space-separated; default
# $(BUILD_VERIFY_KEYRING)). A SIG-URL's signature is kept beside FILE.
# (A rule whose arguments are refused defines nothing: under `make -n` the
# error waits for bv-check.)
fetch-verified-rule = $(call bv-signed,$(strip $(1)),$(strip $(2)),$(strip $(3)),$(strip $(4)),$(strip $(5)))
bv-signed = $(if $(call bv-check-name,$(1))$(call bv-need,URL,$(2),$(1))$(call bv-need,SIG-URL,$(3),$(1))$(call bv-need,KEYRING,$(or $(4),$(BUILD_VERIFY_KEYRING)),$(1))$(if $(filter $(1),$(call bv-kept-sig,$(1),$(3))),$(call bv-fail,$(1): its signature would be kept under its own name)),,$(call bv-signed-rule,$(1),$(2),$(3),$(4),$(5)))
define bv-signed-rule
bv-sig-$(1) := $(call bv-kept-sig,$(1),$(3))
bv-flags-$(1) = $$(bv-fetch) $(call bv-keyrings,$(4)) $(5) $$(FETCH_VERIFIED_FLAGS)
bv-cmd-$(1) = $$(strip $$(bv-flags-$(1)) $(if $(findstring ://,$(3)),--keep-sig $$(call bv-quote,$$(bv-sig-$(1)))) -o $(1)) $(call bv-esc,$(call bv-quote,$(2)) $(call bv-quote,$(3)))
bv-verify-$(1) = $$(strip $$(bv-flags-$(1)) --offline -o $(1)) $(call bv-esc,$(call bv-quote,$(2))) $$(call bv-quote,$$(bv-sig-$(1)))
bv-ready-$(1) = $$(wildcard $$(bv-sig-$(1)))
$(if $(findstring ://,$(3)),BUILD_VERIFY_KEPT += $$(bv-sig-$(1)))
$(call bv-register,$(1))
endef

# $(call fetch-decompressed-rule,FILE,URL,SIG-URL,KEYRINGS[,EXTRA-FLAGS])
# The kernel.org way: URL is a .gz/.xz/.bz2 whose decompressed content SIG-URL
# signs (linux-X.tar.xz, linux-X.tar.sign); FILE (the .tar, what an RPM spec's
# Source0 names) gets the decompressed content, verified in the same pass
# (fetch-verified --decompress). The compressed bytes are not kept: a
# signature over the content does not cover them. FILE itself is what is
# re-verified.
fetch-decompressed-rule = $(call bv-signed,$(strip $(1)),$(strip $(2)),$(strip $(3)),$(strip $(4)),--decompress $(strip $(5)))

# $(call fetch-hashed-rule,FILE,URL,HASHFILE[,EXTRA-FLAGS])
# FILE is fetched from URL and must match the pinned hash in HASHFILE (a bare
# hex FILE.sha256/.sha512 or any list check-hashes reads). A HASHFILE newer
# than FILE (a new pin) fetches FILE again.
fetch-hashed-rule = $(call bv-hashed,$(strip $(1)),$(strip $(2)),$(strip $(3)),$(strip $(4)))
bv-hashed = $(if $(call bv-check-name,$(1))$(call bv-need,URL,$(2),$(1))$(call bv-need,HASHFILE,$(3),$(1)),,$(call bv-hashed-rule,$(1),$(2),$(3),$(4)))
define bv-hashed-rule
bv-flags-$(1) = $$(bv-fetch) --hash-file $(3) $(4) $$(FETCH_VERIFIED_FLAGS)
bv-cmd-$(1) = $$(strip $$(bv-flags-$(1)) -o $(1)) $(call bv-esc,$(call bv-quote,$(2)))
bv-verify-$(1) = $$(strip $$(bv-flags-$(1)) --offline -o $(1)) $(call bv-esc,$(call bv-quote,$(2)))
bv-ready-$(1) = $$(if $$(filter $(3),$$?),,ready)
$(1): $(wildcard $(3))
$(call bv-register,$(1))
endef

# $(call fetch-hashed-urls,URLS[,HASH-SUFFIX[,EXTRA-FLAGS]])
# One rule per URL (space-separated): FILE, the URL's file name (after a #/
# fragment, else its last segment), is pinned by FILE$(HASH-SUFFIX) next to
# it (default .sha512, as Qubes components keep them).
fetch-hashed-urls = $(foreach u,$(1),$(eval $(call fetch-hashed-rule,$(call bv-url-name,$(u)),$(u),$(call bv-url-name,$(u))$(or $(strip $(2)),.sha512),$(3))))

# $(call fetch-package-rule,FILE,URL,KEYRINGS[,EXTRA-FLAGS])
# A stock RPM (a source package as `dnf download --source` gets it, or a
# binary one) verified by its own header signature, by a key in KEYRINGS
# (space-separated; default $(BUILD_VERIFY_KEYRING)), and its payload digest
# while it streams (fetch-verified --rpm). This replaces `dnf download
# --source`, the rename to .UNTRUSTED and `rpmkeys --checksig | grep OK`:
# an unsigned package stops make (exit 3), as does any bad signature or
# digest (exit 1).
fetch-package-rule = $(call bv-package,$(strip $(1)),$(strip $(2)),$(strip $(3)),$(strip $(4)))
bv-package = $(if $(call bv-check-name,$(1))$(call bv-need,URL,$(2),$(1))$(call bv-need,KEYRING,$(or $(3),$(BUILD_VERIFY_KEYRING)),$(1)),,$(call bv-package-rule,$(1),$(2),$(3),$(4)))
define bv-package-rule
bv-flags-$(1) = $$(bv-fetch) --rpm $(call bv-keyrings,$(3)) $(4) $$(FETCH_VERIFIED_FLAGS)
bv-cmd-$(1) = $$(strip $$(bv-flags-$(1)) -o $(1)) $(call bv-esc,$(call bv-quote,$(2)))
bv-verify-$(1) = $$(strip $$(bv-flags-$(1)) --offline -o $(1)) $(call bv-esc,$(call bv-quote,$(2)))
bv-ready-$(1) = ready
$(call bv-register,$(1))
endef

# $(call rpm-repo-rule,DIR,BASE-URL,LOCATIONS,KEYRINGS[,EXTRA-FLAGS])
# A package set from the RPM repository at BASE-URL, mirrored into DIR file by
# file, each verified as it streams: DIR/repodata/repomd.xml by its
# repomd.xml.asc (keys in KEYRINGS), the primary by repomd.xml, and each of
# LOCATIONS (paths as the primary lists them, Packages/f/foo-1.0-1.fc41.x86_64.rpm)
# by the primary AND its own signature. Then DIR.verified: verify-package checks
# the set whole (--exact: nothing in DIR that the primary does not list), with
# the rollback state BUILD_VERIFY_RPM_STATE when set. Point mock's or dnf's
# baseurl (file://DIR) or the ISO's package set at DIR once DIR.verified exists.
rpm-repo-rule = $(call bv-repo,$(strip $(1)),$(strip $(2)),$(strip $(3)),$(strip $(4)),$(strip $(5)))
bv-repo = $(if $(call bv-check-name,$(1))$(call bv-need,BASE-URL,$(2),$(1))$(call bv-need,KEYRING,$(or $(4),$(BUILD_VERIFY_KEYRING)),$(1)),,$(call bv-repo-rule,$(1),$(2),$(3),$(4),$(5)))
define bv-repo-rule
$(1)/repodata/repomd.xml:
	$$(strip $$(bv-fetch) --create-dirs $(call bv-keyrings,$(4)) $(5) $$(FETCH_VERIFIED_FLAGS) -o $$@) $(call bv-quote,$(2)/repodata/repomd.xml) $(call bv-quote,$(2)/repodata/repomd.xml.asc)
# The primary's name is known once repomd.xml is: read from the verified
# repomd.xml, and fetched only if that repomd.xml lists it.
$(1)/repodata/primary.location: $(1)/repodata/repomd.xml
	@sed -n '/<data type="primary">/,/<\/data>/s|.*<location href="\([^"]*\)".*|\1|p' $$< > $$@.tmp && test -s $$@.tmp && mv $$@.tmp $$@
	loc=$$$$(cat $$@) && $$(strip $$(bv-fetch) --hash-file $$< $$(FETCH_VERIFIED_FLAGS) -o $(1)/$$$$loc) $(call bv-quote,$(2))/$$$$loc
$(foreach l,$(3),$(1)/$(l)): $(1)/repodata/primary.location
	$$(strip $$(bv-fetch) --create-dirs --rpm $(call bv-keyrings,$(4)) $(5) --hash-file $(1)/$$$$(cat $$<) $$(FETCH_VERIFIED_FLAGS) -o $$@) $(call bv-quote,$(2))/$$(patsubst $(1)/%,%,$$@)
bv-cmd-$(1).verified = $$(strip $$(VERIFY_PACKAGE) $(call bv-keyrings,$(4)) --repo $(1) --repomd-sha256 $$$$(sha256sum < $(1)/repodata/repomd.xml | cut -c1-64) $$(if $$(BUILD_VERIFY_RPM_STATE),--state $$(BUILD_VERIFY_RPM_STATE)) --exact --quiet $(1))
# Checked at every run, offline (a present package is never taken as done);
# touched only when it is new or a package changed, so what depends on it
# is not rebuilt when the set was only re-verified.
$(1).verified: $(foreach l,$(3),$(1)/$(l)) bv-always | bv-check
	$$(bv-cmd-$(1).verified)
	$$(if $$(or $$(filter-out bv-always,$$?),$$(if $$(wildcard $$@),,new)),touch $$@)
BUILD_VERIFY_CLEAN += $(1).verified
.PHONY: bv-verify/$(1).verified
verify-sources: bv-verify/$(1).verified
bv-verify/$(1).verified: $(foreach l,$(3),$(1)/$(l)) | bv-check
	$$(bv-cmd-$(1).verified)
endef

# FILE's rule always runs (bv-always): a present FILE is re-verified offline
# (bv-verify-FILE) when what it is verified with is at hand (bv-ready-FILE:
# the kept signature, an unchanged pin), else fetched (bv-cmd-FILE), which
# re-verifies a present file with a fresh SIG first. Make compares FILE's
# time after the recipe, so what depends on FILE is not rebuilt when it was
# only re-verified. `verify-sources` re-verifies every file offline (one
# target each, so `make -j` verifies in parallel), after FILE's own rule
# when that is asked for too (`make -j get-sources verify-sources`).
# (Explicit rules: make skips pattern rules for phony targets.)
define bv-register
BUILD_VERIFY_SOURCES += $(1)
$(1): bv-always | bv-check
	$$(if $$(and $$(wildcard $(1)),$$(bv-ready-$(1))),$$(bv-verify-$(1)),$$(bv-cmd-$(1)))
.PHONY: bv-verify/$(1)
verify-sources: bv-verify/$(1)
bv-verify/$(1): | bv-check $(if $(filter get-sources $(1),$(MAKECMDGOALS)),$(1))
	$$(bv-verify-$(1))
endef
.PHONY: verify-sources clean-sources bv-always bv-check
bv-always:
verify-sources:

# Mistakes make cannot see: a `$(call NAME,...)` of a rule that does not
# exist (a typo: `fetch-verify-rule`) expands to nothing and defines nothing,
# so the source it meant would silently not be fetched. Every `$(call NAME`
# of the Makefiles read (outside comments) must name a defined variable;
# found when the recipe is expanded, after the whole Makefile is read.
bv-awk-calls = { sub(/\#.*/, ""); while (match($$0, /\$$\(call [A-Za-z0-9_.-]+/)) { print FILENAME ":" FNR ":" substr($$0, RSTART + 7, RLENGTH - 7); $$0 = substr($$0, RSTART + RLENGTH) } }
bv-calls = $(shell awk '$(bv-awk-calls)' $(wildcard $(MAKEFILE_LIST)) 2>/dev/null)
bv-call-name = $(lastword $(subst :, ,$(1)))
bv-call-where = $(patsubst %:$(call bv-call-name,$(1)),%,$(1))
bv-rules := fetch-verified-rule fetch-decompressed-rule fetch-hashed-rule fetch-hashed-urls fetch-package-rule rpm-repo-rule
bv-undefined-calls = $(foreach c,$(bv-calls),$(if $(filter undefined,$(origin $(call bv-call-name,$(c)))),$(call bv-quote,$(call bv-call-where,$(c)): $$(call $(call bv-call-name,$(c)),...) calls no such rule$(bv-comma) so it defined nothing (the rules: $(bv-rules)))))
bv-comma := ,
bv-problems = $(strip $(bv-errors) $(bv-undefined-calls))
get-sources verify-sources: | bv-check
bv-check:
	$(if $(bv-problems),@printf 'build-verify: %s\n' $(bv-problems) >&2; exit 2)

# Remove fetched files, their kept signatures, any untrusted leftovers of a
# killed download, and $(BUILD_VERIFY_CLEAN). Double-colon: a Makefile adds
# its own recipe with `clean-sources::` (not `clean-sources:`), without an
# "overriding" warning.
clean-sources::
	rm -f -- $(BUILD_VERIFY_SOURCES) $(sort $(BUILD_VERIFY_KEPT)) \
	  $(addsuffix $(BUILD_VERIFY_UNTRUSTED_SUFFIX),$(BUILD_VERIFY_SOURCES)) \
	  $(BUILD_VERIFY_CLEAN)

# sign-log directives for a recipe, echoed into a log piped to `sign-log receive`:
#   product: inputs
#   	@$(SIGN_LOG_MATERIALS) $^
#   	build-it
#   	@$(SIGN_LOG_PRODUCTS) $@
SIGN_LOG_MATERIALS = $(SIGN_LOG) hash --material
SIGN_LOG_PRODUCTS = $(SIGN_LOG) hash --product
# Run a recipe line as a logged step (step-begin/step-end with its exit
# code), named after its command line, so that the steps of one recipe are
# told apart; $(call SIGN_LOG_STEP_AS,NAME) names it NAME.
SIGN_LOG_STEP = $(SIGN_LOG) run --
SIGN_LOG_STEP_AS = $(SIGN_LOG) run --name $(call bv-quote,$(1)) --

.DEFAULT_GOAL := $(bv-saved-goal)
