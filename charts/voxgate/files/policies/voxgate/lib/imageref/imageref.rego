# METADATA
# title: Container image references
# description: |
#   Splits an image reference such as registry.example.com:5000/team/trainer:1.2@sha256:<hex>
#   into the parts policy cares about: is it pinned by digest, and which repository is it from.
package voxgate.lib.imageref

_pinned := `^[^@\s]+@sha256:[a-f0-9]{64}$`

# METADATA
# title: Pinned by digest
# description: True when the reference ends in @sha256:<64 lowercase hex> (a tag before it is allowed).
pinned(image) if regex.match(_pinned, image)

# METADATA
# title: Repository
# description: |
#   The fully qualified repository without tag or digest. Docker Hub short names are expanded
#   the way container runtimes do: pytorch/pytorch becomes docker.io/pytorch/pytorch and
#   ubuntu becomes docker.io/library/ubuntu.
repository(image) := _qualify(_strip_tag(split(image, "@")[0]))

# A ":" in the last path component starts a tag; a ":" before it belongs to a registry port.
_strip_tag(name) := substring(name, 0, (count(name) - count(last)) + indexof(last, ":")) if {
	parts := split(name, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
} else := name

# The first path component is a registry when it looks like a host (has a dot or a port) or
# is localhost; otherwise the reference is a Docker Hub short name.
_qualify(name) := name if {
	contains(name, "/")
	_is_host(split(name, "/")[0])
} else := concat("/", ["docker.io", name]) if {
	contains(name, "/")
} else := concat("/", ["docker.io", "library", name])

_is_host(component) if contains(component, ".")

_is_host(component) if contains(component, ":")

_is_host("localhost")

# METADATA
# title: From an approved registry
# description: |
#   True when the image's repository starts with one of the entries at a path boundary:
#   "ghcr.io/voxgate" allows ghcr.io/voxgate/trainer but not ghcr.io/voxgate-tools/trainer.
from_registry(image, registries) if {
	repo := repository(image)
	some entry in registries
	prefix := concat("", [trim_suffix(entry, "/"), "/"])
	startswith(repo, prefix)
}
