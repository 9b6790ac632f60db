# build-verify.mk — source verification and signed logs for component Makefiles.
#
#   BUILD_VERIFY_MK ?= /usr/share/build-verify/make
#   include $(BUILD_VERIFY_MK)/build-verify.mk
#
#   $(eval $(call fetch-verified-rule,foo-1.0.tar.gz,https://example.org/foo-1.0.tar.gz,https://example.org/foo-1.0.tar.gz.asc,keys/upstream.asc))
#   $(eval $(call fetch-decompressed-rule,linux-6.1.tar,https://cdn.example.org/linux-6.1.tar.xz,https://cdn.example.org/linux-6.1.tar.sign,keys/a.asc keys/b.asc))
#   $(eval $(call fetch-hashed-rule,bar-2.0.tar.xz,https://example.org/bar-2.0.tar.xz,bar-2.0.tar.xz.sha512))
#   $(eval $(call fetch-hashed-urls,https://example.org/a-1.tar.gz https://example.org/b-2.tar.gz))
#   $(eval $(call fetch-package-rule,foo-1.0-1.fc40.src.rpm,https://example.org/foo-1.0-1.fc40.src.rpm,keys/RPM-GPG-KEY-fedora-40-primary))
#   $(eval $(call rpm-repo-rule,repo/qubes,https://yum.example/r4.2/current/host/fc41,Packages/q/qubes-core-dom0-4.2.1-1.fc41.x86_64.rpm,keys/RPM-GPG-KEY-qubes))
#   get-sources: $(BUILD_VERIFY_SOURCES)
#
# Every fetched file is downloaded to FILE.UNTRUSTED (Qubes' convention, so a
# `*.UNTRUSTED` pattern in .gitignore covers it), verified and only then
# renamed (fetch-verified); a file already present is not fetched again, but
# `verify-sources` re-verifies every one of them: a cached file is never
# trusted because it exists. Failures stop make: no recipe here runs a
# verifier in a subshell whose status is lost.

# The directory of this fragment, so further fragments find each other.
BUILD_VERIFY_MK := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
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

# A half-written target is deleted when its recipe fails.
.DELETE_ON_ERROR:

# Make cannot express file names with spaces: refuse them loudly.
bv-check-name = $(if $(word 2,$(1)),$(error build-verify: "$(1)": file names with spaces are not supported by make))
bv-need = $(if $(strip $(2)),,$(error build-verify: $(1) is empty for $(3)))
# A literal '#': URLs may carry a #/NAME fragment, which eval would read as
# a comment; rule text refers to it as $(bv-hash) instead.
bv-hash := \#
bv-esc = $(subst $(bv-hash),$$(bv-hash),$(1))
# One shell word, single-quoted (URLs hold '&', '?', ';').
bv-quote = '$(subst ','\'',$(1))'
# The file name a URL saves to: after a #/ fragment, else its last segment.
bv-url-name = $(if $(findstring $(bv-hash)/,$(1)),$(lastword $(subst $(bv-hash)/, ,$(1))),$(notdir $(firstword $(subst ?, ,$(1)))))
bv-keyrings = $(foreach k,$(or $(strip $(1)),$(BUILD_VERIFY_KEYRING)),--keyring $(k))
# Every fetch: the tool, the fragment's and the component's flags, then the
# rule's (arguments), then the user's FETCH_VERIFIED_FLAGS.
bv-fetch = $(FETCH_VERIFIED) $(if $(filter-out .UNTRUSTED,$(BUILD_VERIFY_UNTRUSTED_SUFFIX)),--untrusted-suffix $(BUILD_VERIFY_UNTRUSTED_SUFFIX)) $(if $(strip $(BUILD_VERIFY_MIRROR_ONLY)),--mirror-only) $(BUILD_VERIFY_FETCH_FLAGS)

# $(call fetch-verified-rule,FILE,URL,SIG-URL,KEYRINGS[,EXTRA-FLAGS])
# FILE is fetched from URL and must carry a good signature (SIG-URL: a URL or a
# local path) by a key in KEYRINGS (space-separated; default
# $(BUILD_VERIFY_KEYRING)).
define fetch-verified-rule
$(call bv-check-name,$(1))
$(call bv-need,URL,$(2),$(1))
$(call bv-need,SIG-URL,$(3),$(1))
$(call bv-need,KEYRING,$(or $(strip $(4)),$(BUILD_VERIFY_KEYRING)),$(1))
bv-cmd-$(1) = $$(strip $$(bv-fetch) $(call bv-keyrings,$(4)) $(5) $$(FETCH_VERIFIED_FLAGS) -o $(1)) $(call bv-esc,$(call bv-quote,$(2)) $(call bv-quote,$(3)))
$(1):
	$$(bv-cmd-$(1))
$(call bv-register,$(1))
endef

# $(call fetch-decompressed-rule,FILE,URL,SIG-URL,KEYRINGS[,EXTRA-FLAGS])
# The kernel.org way: URL is a .gz/.xz/.bz2 whose decompressed content SIG-URL
# signs (linux-X.tar.xz, linux-X.tar.sign); FILE (the .tar, what an RPM spec's
# Source0 names) gets the decompressed content, verified in the same pass
# (fetch-verified --decompress). The compressed bytes are not kept: a
# signature over the content does not cover them. `verify-sources`
# re-verifies FILE itself.
fetch-decompressed-rule = $(call fetch-verified-rule,$(1),$(2),$(3),$(4),--decompress $(5))

# $(call fetch-hashed-rule,FILE,URL,HASHFILE[,EXTRA-FLAGS])
# FILE is fetched from URL and must match the pinned hash in HASHFILE (a bare
# hex FILE.sha256/.sha512 or any list check-hashes reads).
define fetch-hashed-rule
$(call bv-check-name,$(1))
$(call bv-need,URL,$(2),$(1))
$(call bv-need,HASHFILE,$(3),$(1))
bv-cmd-$(1) = $$(strip $$(bv-fetch) --hash-file $(3) $(4) $$(FETCH_VERIFIED_FLAGS) -o $(1)) $(call bv-esc,$(call bv-quote,$(2)))
$(1): $(3)
	$$(bv-cmd-$(1))
$(call bv-register,$(1))
endef

# $(call fetch-hashed-urls,URLS[,HASH-SUFFIX[,EXTRA-FLAGS]])
# One rule per URL (space-separated): FILE, the URL's file name (after a #/
# fragment, else its last segment), is pinned by FILE$(HASH-SUFFIX) next to
# it (default .sha512, as Qubes components keep them).
fetch-hashed-urls = $(foreach u,$(1),$(eval $(call fetch-hashed-rule,$(call bv-url-name,$(u)),$(u),$(call bv-url-name,$(u))$(or $(2),.sha512),$(3))))

# $(call fetch-package-rule,FILE,URL,KEYRINGS[,EXTRA-FLAGS])
# A stock RPM (a source package as `dnf download --source` gets it, or a
# binary one) verified by its own header signature, by a key in KEYRINGS
# (space-separated; default $(BUILD_VERIFY_KEYRING)), and its payload digest
# while it streams (fetch-verified --rpm). This replaces `dnf download
# --source`, the rename to .UNTRUSTED and `rpmkeys --checksig | grep OK`:
# an unsigned package stops make (exit 3), as does any bad signature or
# digest (exit 1). `verify-sources` re-verifies FILE the same way.
define fetch-package-rule
$(call bv-check-name,$(1))
$(call bv-need,URL,$(2),$(1))
$(call bv-need,KEYRING,$(or $(strip $(3)),$(BUILD_VERIFY_KEYRING)),$(1))
bv-cmd-$(1) = $$(strip $$(bv-fetch) --rpm $(call bv-keyrings,$(3)) $(4) $$(FETCH_VERIFIED_FLAGS) -o $(1)) $(call bv-esc,$(call bv-quote,$(2)))
$(1):
	$$(bv-cmd-$(1))
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
define rpm-repo-rule
$(call bv-check-name,$(1))
$(call bv-need,BASE-URL,$(2),$(1))
$(call bv-need,KEYRING,$(or $(strip $(4)),$(BUILD_VERIFY_KEYRING)),$(1))
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
$(1).verified: $(foreach l,$(3),$(1)/$(l))
	$$(bv-cmd-$(1).verified)
	touch $$@
BUILD_VERIFY_CLEAN += $(1).verified
.PHONY: bv-verify/$(1).verified
verify-sources: bv-verify/$(1).verified
bv-verify/$(1).verified: $(foreach l,$(3),$(1)/$(l))
	$$(bv-cmd-$(1).verified)
endef

# Re-verify every fetched file (one target each, so `make -j` verifies in
# parallel). fetch-verified re-verifies a present file rather than trusting it,
# and replaces it only if it fails.
# (Explicit rules: make skips pattern rules for phony targets.)
define bv-register
BUILD_VERIFY_SOURCES += $(1)
.PHONY: bv-verify/$(1)
verify-sources: bv-verify/$(1)
bv-verify/$(1):
	$$(bv-cmd-$(1))
endef
.PHONY: verify-sources clean-sources
verify-sources:

# Remove fetched files, any untrusted leftovers of a killed download, and
# $(BUILD_VERIFY_CLEAN). Double-colon: a Makefile adds its own recipe with
# `clean-sources::` (not `clean-sources:`), without an "overriding" warning.
clean-sources::
	rm -f -- $(BUILD_VERIFY_SOURCES) \
	  $(addsuffix $(BUILD_VERIFY_UNTRUSTED_SUFFIX),$(BUILD_VERIFY_SOURCES)) \
	  $(BUILD_VERIFY_CLEAN)

# sign-log directives for a recipe, echoed into a log piped to `sign-log receive`:
#   product: inputs
#   	@$(SIGN_LOG_MATERIALS) $^
#   	build-it
#   	@$(SIGN_LOG_PRODUCTS) $@
SIGN_LOG_MATERIALS = $(SIGN_LOG) hash --material
SIGN_LOG_PRODUCTS = $(SIGN_LOG) hash --product
# Run a recipe line as a logged step (step-begin/step-end with its exit code).
SIGN_LOG_STEP = $(SIGN_LOG) run --name $@ --

.DEFAULT_GOAL := $(bv-saved-goal)
