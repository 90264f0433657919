"""A TDDUI 2.4.0 Flux 1 bundle, built here because the 2.4.0 package has no examples.

`bundle_2_4_0()` fills the 30 TDDUIBundle slices (`FILLED_SLICES`, one entry each, `urn:uuid:`
fullUrls, every reference inside the bundle), each resource with what its profile requires.
Codes under a value set the packages lack (NOS/SMT, README "FHIR packages") cannot be checked
offline: they are plausible placeholders, and the engine answers each with a "could not be
checked" warning. Identifiers follow the guide's `3` + FINESS + `/` + local id convention, with
the legal entity's FINESS.
"""
from __future__ import annotations

import copy
import uuid

TDDUI = "https://interop.esante.gouv.fr/ig/fhir/tddui"
SD = f"{TDDUI}/StructureDefinition/"
CS = f"{TDDUI}/CodeSystem/"
FR_CORE_CS = "https://hl7.fr/ig/fhir/core/CodeSystem/"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
FINESS = "480787529"  # the IG examples' legal entity
DISCRIMINATOR = SD + "tddui-discriminator"




def coding(system: str, code: str, display: str | None = None) -> dict:
    found = {"system": system, "code": code}
    if display:
        found["display"] = display
    return found


def concept(system: str, code: str, display: str | None = None) -> dict:
    return {"coding": [coding(system, code, display)]}


def discriminated(code: str, **content) -> dict:
    """An element sliced by its tddui-discriminator extension (notes, supporting info)."""
    return {"extension": [{"url": DISCRIMINATOR, "valueCodeableConcept": concept(CS + "tddui-discriminator", code)}],
            **content}


class Bundle240:
    """Entries by slice name, with the urn:uuid each resource is referred to by, for the legal
    entity ``finess``."""

    def __init__(self, finess: str):
        self.finess = finess
        self.urls: dict[str, str] = {}
        self.entries: list[dict] = []

    def local_id(self, tag: str | None = None, user: str = "USAGER1") -> str:
        """The guide's business identifier value: 3 + FINESS / the user's local id, then -TAG-1 for
        what belongs to that user (3480787529/USAGER1-SEJOUR-1)."""
        return f"3{self.finess}/{user}" + (f"-{tag}-1" if tag else "")

    def ref(self, slice_name: str) -> dict:
        return {"reference": self.urls[slice_name]}

    def add(self, slice_name: str, profile: str, resource: dict) -> None:
        url = self.urls.setdefault(slice_name, f"urn:uuid:{uuid.uuid4()}")
        resource = {"resourceType": resource.pop("resourceType"), "meta": {"profile": [SD + profile]}, **resource}
        self.entries.append({"fullUrl": url, "resource": resource,
                             "request": {"method": "POST", "url": resource["resourceType"]}})

    def bundle(self) -> dict:
        return {"resourceType": "Bundle", "meta": {"profile": [SD + "tddui-bundle"]}, "type": "transaction",
                "entry": copy.deepcopy(self.entries)}


def _reserve(built: Bundle240, *slice_names: str) -> None:
    """fullUrls first, so that entries can refer to each other in any order."""
    for name in slice_names:
        built.urls[name] = f"urn:uuid:{uuid.uuid4()}"


def _patient_ins(built: Bundle240) -> None:
    built.add("DUIPatientINS", "tddui-patient-ins", {
        "resourceType": "Patient",
        "extension": [
            {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability",
             "extension": [{"url": "identityStatus", "valueCoding": coding(FR_CORE_CS + "fr-core-cs-v2-0445", "VALI")}]},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
             "valueAddress": {"extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
                                             "valueCoding": coding("https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM", "63220")}],
                              "city": "Mazoires", "country": "FRA"}}],
        "identifier": [
            {"use": "official", "type": concept(FR_CORE_CS + "fr-core-cs-v2-0203", "INS-NIR"),
             "system": "urn:oid:1.2.250.1.213.1.4.8", "value": "147720425367411"},
            {"use": "usual", "type": concept(V2_0203, "PI", "Patient internal identifier"),
             "system": "https://identifiant-medicosocial-localusager.esante.gouv.fr", "value": built.local_id()}],
        "name": [{"extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name",
                                 "valueString": "Jean Stéphane"}],
                  "use": "official", "family": "DUPONT", "given": ["Jean"]},
                 {"use": "usual", "family": "DUPONT"}],
        "gender": "male",
        "birthDate": "1947-04-03",
    })


def _patient(built: Bundle240) -> None:
    """A second user, without INS: TDDUIPatient, named by its local identifier only."""
    built.add("DUIPatient", "tddui-patient", {
        "resourceType": "Patient",
        "identifier": [{"use": "usual", "type": concept(V2_0203, "PI", "Patient internal identifier"),
                        "system": "https://identifiant-medicosocial-localusager.esante.gouv.fr",
                        "value": built.local_id(user="USAGER2")}],
        "name": [{"use": "official", "family": "MARTIN", "given": ["Paul"]}],
        "gender": "male",
        "birthDate": "1950-01-01",
        "_birthDate": {"extension": [{"url": SD + "tddui-birth-order", "valuePositiveInt": 1}]},
    })


def _organization(built: Bundle240) -> None:
    built.add("DUIOrganization", "tddui-organization", {
        "resourceType": "Organization",
        "identifier": [{"type": concept(FR_CORE_CS + "fr-core-cs-v2-0203", "IDNST"),
                        "system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1" + built.finess}],
        "name": "Les Chênes Verts",
    })


def _stay(built: Bundle240) -> None:
    built.add("DUIEncounterSejour", "tddui-encounter-sejour", {
        "resourceType": "Encounter",
        "identifier": [{"type": concept(CS + "tddui-encounter-identifier", "SEJ", "Identifiant du séjour"),
                        "system": "https://identifiant-medicosocial-sejour.esante.gouv.fr",
                        "value": built.local_id("SEJOUR")}],
        "status": "in-progress",
        "class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HH"),
        "serviceType": {"coding": [coding("https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteAccueil/FHIR/TRE-R338-ModaliteAccueil", "01")]},
        "subject": built.ref("DUIPatientINS"),
        "period": {"start": "2023-04-14"},
        "serviceProvider": built.ref("DUIOrganization"),
    })


def _event(built: Bundle240) -> None:
    built.add("DUIEncounterEvenement", "tddui-encounter-evenement", {
        "resourceType": "Encounter",
        "identifier": [{"type": concept(V2_0203, "VN"),
                        "system": "https://identifiant-medicosocial-evenement.esante.gouv.fr",
                        "value": built.local_id("EVENEMENT")}],
        "status": "finished",
        "class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HH"),
        "type": [{"coding": [coding("https://smt.esante.gouv.fr/fhir/CodeSystem/terminologie-cisis", "GEN-092")]}],
        "subject": built.ref("DUIPatientINS"),
        "period": {"start": "2023-04-20T09:00:00+02:00", "end": "2023-04-20T10:00:00+02:00"},
        "partOf": built.ref("DUIEncounterSejour"),
    })


def _practitioner(built: Bundle240) -> None:
    built.add("DUIPractitioner", "tddui-practitioner", {
        "resourceType": "Practitioner",
        "identifier": [{"type": concept(FR_CORE_CS + "fr-core-cs-v2-0203", "IDNPS"),
                        "system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810002909371"}],
        "name": [{"family": "MARTIN", "given": ["Claire"]}],
    })


def _practitioner_role(built: Bundle240) -> None:
    built.add("DUIPractitionerRole", "tddui-practitioner-role", {
        "resourceType": "PractitionerRole",
        "practitioner": built.ref("DUIPractitioner"),
        "organization": built.ref("DUIOrganization"),
    })


def _related_person(built: Bundle240) -> None:
    built.add("DUIRelatedPersonContact", "tddui-related-person-contact", {
        "resourceType": "RelatedPerson",
        "identifier": [{"system": "https://identifiant-medicosocial-contact.esante.gouv.fr", "value": built.local_id("CONTACT")}],
        "patient": built.ref("DUIPatientINS"),
        "name": [{"family": "DUPONT", "given": ["Marie"]}],
    })


def _care_plan(built: Bundle240) -> None:
    built.add("DUICarePlanProjetPersonnalise", "tddui-careplan-projet-personnalise", {
        "resourceType": "CarePlan",
        "identifier": [{"system": "https://identifiant-medicosocial-projetpersonnalise.esante.gouv.fr",
                        "value": built.local_id("PROJETPERSONNALISE")}],
        "status": "active",
        "intent": "plan",
        "title": "Projet personnalisé 2023",
        "subject": built.ref("DUIPatientINS"),
        "supportingInfo": [discriminated("accordStructure", **built.ref("DUIConsentAccord"))],
    })


def _consent(built: Bundle240) -> None:
    built.add("DUIConsentAccord", "tddui-consent-accord", {
        "resourceType": "Consent",
        "status": "active",
        "scope": concept("http://terminology.hl7.org/CodeSystem/consentscope", "treatment"),
        "category": [concept("http://loinc.org", "59284-0")],
        "dateTime": "2023-04-14T10:00:00+02:00",
        "performer": [built.ref("DUIPatientINS")],
        "patient": built.ref("DUIPatientINS"),
        "policyRule": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN"),
    })


def _care_plan_goal(built: Bundle240, slice_name: str, profile: str, kind: str, description: str,
                    note: dict) -> None:
    """A Goal of the personalised project (attente, objectif): linked to its CarePlan, own identifier system."""
    built.add(slice_name, profile, {
        "resourceType": "Goal",
        "extension": [{"url": SD + "tddui-careplan-reference",
                       "valueReference": built.ref("DUICarePlanProjetPersonnalise")}],
        "identifier": [{"system": f"https://identifiant-medicosocial-{kind}.esante.gouv.fr",
                        "value": built.local_id(kind.upper())}],
        "lifecycleStatus": "active",
        "description": {"text": description},
        "subject": built.ref("DUIPatientINS"),
        "note": [note],
    })


def _goal_attente(built: Bundle240) -> None:
    _care_plan_goal(built, "DUIGoalAttente", "tddui-goal-attente", "attente", "Rester à domicile",
                    discriminated("origineAttente", text="Usager"))


def _goal_objectif(built: Bundle240) -> None:
    _care_plan_goal(built, "DUIGoalObjectif", "tddui-goal-objectif", "objectif", "Marcher seul",
                    discriminated("titreObjectif", text="Autonomie à la marche"))


def _goal_projet_vie(built: Bundle240) -> None:
    built.add("DUIGoalProjetVie", "tddui-goal-projet-vie", {
        "resourceType": "Goal",
        "identifier": [{"type": concept(CS + "tddui-goal-identifier", "PDV"),
                        "system": "https://identifiant-medicosocial-projetvie.esante.gouv.fr",
                        "value": built.local_id("PDV")}],
        "lifecycleStatus": "active",
        "description": {"text": "Vivre auprès de sa famille"},
        "subject": built.ref("DUIPatientINS"),
    })


def _need(built: Bundle240) -> None:
    built.add("DUIServiceRequestBesoin", "tddui-service-request-besoin", {
        "resourceType": "ServiceRequest",
        "identifier": [{"type": concept(CS + "tddui-service-request-identifier", "BES"),
                        "system": "https://identifiant-medicosocial-besoin.esante.gouv.fr", "value": built.local_id("BESO")}],
        "basedOn": [built.ref("DUICarePlanProjetPersonnalise")],
        "status": "active",
        "intent": "plan",
        "code": {"text": "Aide à la toilette"},
        "subject": built.ref("DUIPatientINS"),
    })


def _referral(built: Bundle240) -> None:
    built.add("DUIServiceRequestDemandeOrientation", "tddui-service-request-demande-orientation", {
        "resourceType": "ServiceRequest",
        "identifier": [{"type": concept(CS + "tddui-service-request-identifier", "DEMANDE_ORIENTATION"),
                        "system": "https://identifiant-medicosocial-demandeorientation.esante.gouv.fr",
                        "value": built.local_id("DEMANDEORIENTATION")}],
        "status": "active",
        "intent": "order",
        "subject": built.ref("DUIPatientINS"),
    })


def _observation_mobility(built: Bundle240) -> None:
    built.add("DUIObservationMobiliteUsager", "tddui-observation-mobilite-usager", {
        "resourceType": "Observation",
        "status": "final",
        "code": concept("http://loinc.org", "LP73551-1", "Transport mode"),
        "subject": built.ref("DUIPatientINS"),
        "effectiveDateTime": "2023-04-14",
        "valueCodeableConcept": {"text": "Fauteuil roulant"},
    })


def _observation_death(built: Bundle240) -> None:
    built.add("DUIObservationCauseMortalite", "tddui-observation-cause-mortalite", {
        "resourceType": "Observation",
        "status": "final",
        "code": concept("http://loinc.org", "79378-6", "Cause of death"),
        "subject": built.ref("DUIPatientINS"),
        "component": [{"code": concept("http://loinc.org", "79378-6", "Cause of death"),
                       "valueCodeableConcept": concept("https://smt.esante.gouv.fr/terminologie-cim-10", "I21")}],
    })


def _observation_school(built: Bundle240) -> None:
    built.add("DUIObservationPeriodeScolaire", "tddui-observation-periode-scolaire", {
        "resourceType": "Observation",
        "identifier": [{"system": "https://identifiant-medicosocial-periodescolaire.esante.gouv.fr",
                        "value": built.local_id("PERIODESCOLAIRE")}],
        "status": "final",
        "code": concept(CS + "tddui-observation-type", "PERIODESCOL", "Période scolaire"),
        "subject": built.ref("DUIPatientINS"),
        "performer": [built.ref("DUIRelatedPersonContact")],
    })


def _observation_meal(built: Bundle240) -> None:
    built.add("DUIObservationRepas", "tddui-observation-repas", {
        "resourceType": "Observation",
        "extension": [{"url": SD + "tddui-participant-present", "valueBoolean": True}],
        "identifier": [{"type": concept(CS + "tddui-observation-identifier", "REP"),
                        "system": "https://identifiant-medicosocial-repas.esante.gouv.fr", "value": built.local_id("REPAS")}],
        "status": "final",
        "category": [concept("https://smt.esante.gouv.fr/terminologie-ms", "DEJ")],
        "code": concept(CS + "tddui-observation-type", "REPAS", "Repas"),
        "subject": built.ref("DUIPatientINS"),
        "effectiveDateTime": "2023-04-14T12:00:00+02:00",
    })


def _task(built: Bundle240, slice_name: str, profile: str, tag: str, **content) -> None:
    """A Task of one of the six 2.4.0 profiles, identified in the system its profile fixes."""
    built.add(slice_name, profile, {
        "resourceType": "Task",
        "identifier": [{"system": f"https://identifiant-medicosocial-{tag.lower()}.esante.gouv.fr",
                        "value": built.local_id(tag)}],
        "status": "completed",
        "intent": "plan",
        "for": built.ref("DUIPatientINS"),
        **content,
    })


def _titled(code_system: str) -> list[dict]:
    """The titre input the action, means and service Tasks require."""
    return [{"type": concept(CS + code_system, "titre"), "valueString": "Accompagnement"}]


def _tasks(built: Bundle240) -> None:
    plan = {"basedOn": [built.ref("DUICarePlanProjetPersonnalise")]}
    _task(built, "DUITaskAction", "tddui-task-action", "ACTION", **plan, input=_titled("tddui-task-input-action"))
    _task(built, "DUITaskMoyenRessource", "tddui-task-moyen-ressource", "MOYENRESSOURCE", **plan,
          input=_titled("tddui-task-input-moyen-ressource"))
    _task(built, "DUITaskPrestation", "tddui-task-prestation", "PRESTATION", **plan,
          input=_titled("tddui-task-input-prestation"))
    _task(built, "DUITaskBilan", "tddui-task-bilan", "BILAN", **plan,
          executionPeriod={"start": "2023-04-14T10:00:00+02:00"})
    transport = {"encounter": built.ref("DUIEncounterEvenement"),
                 "executionPeriod": {"start": "2023-04-20T08:30:00+02:00", "end": "2023-04-20T09:00:00+02:00"}}
    _task(built, "DUITransportUsager", "tddui-task-transport-usager", "TRANSPORTUSAGER", **transport)
    _task(built, "DUITransportProfessionnel", "tddui-task-transport-professionnel", "TRANSPORTPROFESSIONNEL",
          **{**transport, "for": built.ref("DUIPractitioner")})


def _questionnaire_response(built: Bundle240) -> None:
    built.add("DUIQuestionnaireResponse", "tddui-questionnaire-response", {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": "https://identifiant-medicosocial-evaluation.esante.gouv.fr", "value": built.local_id("EVALUATION")},
        "questionnaire": f"{TDDUI}/Questionnaire/tddui-questionnaire-situation-ssiad",
        "status": "completed",
        "author": built.ref("DUIPractitioner"),
        "subject": built.ref("DUIPatientINS"),
        "item": [{"linkId": "incontinence", "text": "Incontinence urinaire, sans précision",
                  "answer": [{"valueBoolean": False}]}],
    })


def _document_reference(built: Bundle240) -> None:
    built.add("DUIDocumentReference", "tddui-document-reference", {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1.1.1"},
        "status": "current",
        "subject": built.ref("DUIPatientINS"),
        "author": [built.ref("DUIPractitioner")],
        "content": [{"attachment": {"contentType": "text/plain", "data": "Qm9uam91cg==", "title": "Compte rendu"}}],
    })


def _schedule(built: Bundle240) -> None:
    built.add("DUISchedule", "tddui-schedule", {
        "resourceType": "Schedule",
        "actor": [built.ref("DUIPatientINS")],
    })


def _slot(built: Bundle240) -> None:
    built.add("DUISlotPresenceAbsence", "tddui-slot-presence-absence", {
        "resourceType": "Slot",
        "identifier": [{"type": concept(CS + "tddui-slot-identifier", "PA"),
                        "system": "https://identifiant-medicosocial-presenceabsence.esante.gouv.fr",
                        "value": built.local_id("PA")}],
        "serviceType": [concept("https://smt.esante.gouv.fr/terminologie-ms", "PRESENCE")],
        "schedule": built.ref("DUISchedule"),
        "status": "busy",
        "start": "2023-04-20T08:00:00+02:00",
        "end": "2023-04-20T18:00:00+02:00",
    })


def _decision(built: Bundle240) -> None:
    built.add("DUIBasicDroitDecision", "tddui-basic-decision", {
        "resourceType": "Basic",
        "extension": [{"url": SD + "tddui-decision", "extension": [
            {"url": "typeDecision", "valueCodeableConcept": concept("https://smt.esante.gouv.fr/terminologie-ms", "1")},
            {"url": "dateDecision", "valueDate": "2023-03-01"}]}],
        "identifier": [{"type": concept(CS + "tddui-basic-decision-identifier", "IDDECISION", "Identifiant principal de la décision"),
                        "system": "https://identifiant-medicosocial-decision.esante.gouv.fr", "value": built.local_id("DECISION")}],
        "code": concept(CS + "tddui-basic-type", "DECISION", "Décision"),
        "subject": built.ref("DUIServiceRequestDemandeOrientation"),
    })


BUILDERS = (_patient_ins, _patient, _organization, _stay, _event, _practitioner, _practitioner_role, _related_person,
            _care_plan, _consent, _goal_attente, _goal_objectif, _goal_projet_vie, _need, _referral,
            _observation_mobility, _observation_death, _observation_school, _observation_meal, _tasks,
            _questionnaire_response, _document_reference, _schedule, _slot, _decision)
FILLED_SLICES = (
    "DUIPatientINS", "DUIPatient", "DUIOrganization", "DUIEncounterSejour", "DUIEncounterEvenement", "DUIPractitioner",
    "DUIPractitionerRole", "DUIRelatedPersonContact", "DUICarePlanProjetPersonnalise", "DUIConsentAccord",
    "DUIGoalAttente", "DUIGoalObjectif", "DUIGoalProjetVie", "DUIServiceRequestBesoin",
    "DUIServiceRequestDemandeOrientation", "DUIObservationMobiliteUsager", "DUIObservationCauseMortalite",
    "DUIObservationPeriodeScolaire", "DUIObservationRepas", "DUITaskAction", "DUITaskMoyenRessource",
    "DUITaskPrestation", "DUITaskBilan", "DUITransportUsager", "DUITransportProfessionnel",
    "DUIQuestionnaireResponse", "DUIDocumentReference", "DUISchedule", "DUISlotPresenceAbsence",
    "DUIBasicDroitDecision")


def bundle_2_4_0(finess: str = FINESS) -> dict:
    """The bundle of the legal entity ``finess`` (its idNatSt is 1 + FINESS)."""
    built = Bundle240(finess)
    _reserve(built, *FILLED_SLICES)
    for build in BUILDERS:
        build(built)
    return built.bundle()
