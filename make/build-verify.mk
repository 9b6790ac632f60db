# build-verify.mk — source verification and signed logs for component Makefiles.
#
#   BUILD_VERIFY_MK ?= /usr/share/build-verify/make
#   include $(BUILD_VERIFY_MK)/build-verify.mk
#
#   $(eval $(call fetch-verified-rule,foo-1.0.tar.gz,https://example.org/foo-1.0.tar.gz,https://example.org/foo-1.0.tar.gz.asc,keys/upstream.asc))
#   $(eval $(call fetch-hashed-rule,bar-2.0.tar.xz,https://example.org/bar-2.0.tar.xz,bar-2.0.tar.xz.sha512))
#   get-sources: $(BUILD_VERIFY_SOURCES)
#
# Every fetched file is downloaded to an untrusted temporary name, verified and
# only then renamed (fetch-verified); a file already present is not fetched
# again, but `verify-sources` re-verifies every one of them: a cached file is
# never trusted because it exists. Failures stop make: no recipe here runs a
# verifier in a subshell whose status is lost.

# The directory of this fragment, so further fragments find each other.
BUILD_VERIFY_MK := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
# Including this file must not change the includer's default goal.
bv-saved-goal := $(.DEFAULT_GOAL)

# The tools and their common flags; override on the command line or before
# the include.
FETCH_VERIFIED ?= fetch-verified
CHECK_HASHES ?= check-hashes
VERIFY_TAG ?= verify-tag
SIGN_LOG ?= sign-log
FETCH_VERIFIED_FLAGS ?=
CHECK_HASHES_FLAGS ?=
VERIFY_TAG_FLAGS ?=
# Default keyring of fetch-verified-rule when its fourth argument is empty.
BUILD_VERIFY_KEYRING ?=
# A local mirror tried before each upstream URL (fetch-verified reads it).
DISTFILES_MIRROR ?=
export DISTFILES_MIRROR

# Every file a rule below fetches; `get-sources: $(BUILD_VERIFY_SOURCES)`.
BUILD_VERIFY_SOURCES :=

# A half-written target is deleted when its recipe fails.
.DELETE_ON_ERROR:

# Make cannot express file names with spaces: refuse them loudly.
bv-check-name = $(if $(word 2,$(1)),$(error build-verify: "$(1)": file names with spaces are not supported by make))
bv-need = $(if $(strip $(2)),,$(error build-verify: $(1) is empty for $(3)))

# $(call fetch-verified-rule,FILE,URL,SIG-URL,KEYRING[,EXTRA-FLAGS])
# FILE is fetched from URL and must carry a good signature (SIG-URL: a URL or a
# local path) by a key in KEYRING (default $(BUILD_VERIFY_KEYRING)).
define fetch-verified-rule
$(call bv-check-name,$(1))
$(call bv-need,URL,$(2),$(1))
$(call bv-need,SIG-URL,$(3),$(1))
$(call bv-need,KEYRING,$(or $(4),$(BUILD_VERIFY_KEYRING)),$(1))
bv-cmd-$(1) = $$(FETCH_VERIFIED) $$(FETCH_VERIFIED_FLAGS) --keyring $(or $(4),$(BUILD_VERIFY_KEYRING)) $(5) -o $(1) $(2) $(3)
$(1):
	$$(bv-cmd-$(1))
$(call bv-register,$(1))
endef

# $(call fetch-hashed-rule,FILE,URL,HASHFILE[,EXTRA-FLAGS])
# FILE is fetched from URL and must match the pinned hash in HASHFILE (a bare
# hex FILE.sha256/.sha512 or any list check-hashes reads).
define fetch-hashed-rule
$(call bv-check-name,$(1))
$(call bv-need,URL,$(2),$(1))
$(call bv-need,HASHFILE,$(3),$(1))
bv-cmd-$(1) = $$(FETCH_VERIFIED) $$(FETCH_VERIFIED_FLAGS) --hash-file $(3) $(4) -o $(1) $(2)
$(1): $(3)
	$$(bv-cmd-$(1))
$(call bv-register,$(1))
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

# Remove fetched files and any untrusted leftovers of a killed download.
clean-sources:
	rm -f -- $(BUILD_VERIFY_SOURCES) \
	  $(foreach f,$(BUILD_VERIFY_SOURCES),$(dir $(f)).$(notdir $(f)).UNTRUSTED-*)

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
