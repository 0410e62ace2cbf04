"""voxgate: admit speech-model training only under policy, on sealed data, within budget."""

__version__ = "0.1.0"

API_GROUP = "voxgate.io"
API_VERSION = "v1alpha1"
