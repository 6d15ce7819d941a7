"""Simulators of the outside services, for `kopru dev` and the tests: each speaks its
service's documented protocol and codes and nothing the service lacks, and lists every
call it received at `GET /_simulator/calls`. Never imported by a function."""
