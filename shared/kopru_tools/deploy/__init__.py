"""Deployment manifests rendered from the function registry and the event catalog
(`kopru deploy render knative|openfaas [--check]`): Knative Serving/Eventing with
Strimzi topics under infra/knative/, and the OpenFaaS stack.yml.

    from kopru_tools.deploy import render, differences, write
    r = render("knative")            # registry + catalog of this repository
    differences(r)                   # [] when the files on disk are current
"""

from kopru_tools.deploy.plan import FunctionPlan, Plan, RenderError, make_plan
from kopru_tools.deploy.render import KNATIVE_DIR, STACK_FILE, TARGETS, Rendered, differences, render, write
from kopru_tools.deploy.settings import DeploySettings, FunctionProfile, default_settings

__all__ = [
    "DeploySettings", "FunctionPlan", "FunctionProfile", "KNATIVE_DIR", "Plan", "RenderError", "Rendered",
    "STACK_FILE", "TARGETS", "default_settings", "differences", "make_plan", "render", "write",
]
