"""The API's blueprints, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from flask_smorest import Blueprint

from service.accounts.routes import blp as auth_blp
from service.activity.routes import blp as activity_blp
from service.alerts.routes import blp as alerts_blp
from service.clinicians.routes import blp as clinician_blp
from service.connections.routes import blp as connections_blp
from service.connections.routes import integrations_blp
from service.evaluation.routes import blp as evaluations_blp
from service.fhir.routes import blp as fhir_blp
from service.outcomes.routes import blp as outcomes_blp
from service.patients.routes import blp as me_blp
from service.patients.routes import signup_blp
from service.plans.routes import blp as plan_blp
from service.questionnaires.routes import blp as questionnaires_blp
from service.reports.routes import blp as reports_blp
from service.rulesets.routes import blp as rulesets_blp
from service.safety.routes import blp as safety_blp
from service.tips.routes import blp as tips_blp

API_BLUEPRINTS: list[Blueprint] = []
API_BLUEPRINTS.append(signup_blp)
API_BLUEPRINTS.append(auth_blp)
API_BLUEPRINTS.append(me_blp)
API_BLUEPRINTS.append(activity_blp)
API_BLUEPRINTS.append(reports_blp)
API_BLUEPRINTS.append(plan_blp)
API_BLUEPRINTS.append(tips_blp)
API_BLUEPRINTS.append(questionnaires_blp)
API_BLUEPRINTS.append(clinician_blp)
API_BLUEPRINTS.append(connections_blp)
API_BLUEPRINTS.append(integrations_blp)
API_BLUEPRINTS.append(alerts_blp)
API_BLUEPRINTS.append(safety_blp)
API_BLUEPRINTS.append(evaluations_blp)
API_BLUEPRINTS.append(rulesets_blp)
API_BLUEPRINTS.append(fhir_blp)
API_BLUEPRINTS.append(outcomes_blp)
