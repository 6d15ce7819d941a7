"""Köprü's tools: the `kopru` command, `kopru dev`'s gateway and in-process bus, the
simulators, the deploy renderers and the OpenAPI renderer. Nothing under `kopru` (what a
function image imports) imports this package; the image leaves its dev-only parts out."""
