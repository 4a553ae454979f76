"""The cluster port and its adapters.

`port` is what the provisioner needs of Kubernetes and the errors it may raise; `kubernetes` is
the adapter over the official client, `memory` the in-process stand-in (demo and tests). The
watch-fed cache (`informer`, `object_cache`, `cached`), request counting (`counted`) and spans
(`traced`) wrap any adapter.
"""
