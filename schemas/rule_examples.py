"""An example of every validation rule: the mistake a process owner makes, and its fix.

Examples are written against the bundled strategy (the car-service company in ``strategy/``)
and come in three forms:

- YAML: each part starts with a line naming its file (``# 2-use.yaml``) and is *added* to that
  file: mappings merge key by key, a list item whose ``id`` the file already has merges into
  that item, other items are appended, and a list of plain values gains the values it lacks.
  A part headed ``# 8-campaigns.yaml, the whole file`` is that file's whole text instead.
- a command line (``$ tietotie …``);
- prose, for what YAML cannot show (a file's encoding, size or permissions).

The validation-rules page shows them, and tests apply each mistake to see its rule fire and
each fix to see the strategy validate again.
"""

from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent

__all__ = ["EXAMPLES", "Example"]


@dataclass(frozen=True, slots=True)
class Example:
    """A mistake that breaks a rule, and the same declaration written right."""

    mistake: str
    fix: str


def _x(mistake: str, fix: str) -> Example:
    return Example(dedent(mistake).strip() + "\n", dedent(fix).strip() + "\n")


_BOOKING_REMINDERS = """\
    # 2-use.yaml
    uses:
      - id: booking-reminders
        description: A text message the day before a booked visit.
        kind: service_delivery
        legal_basis: contract
        data_subjects: [customer]
        fields: [customer.name, customer.phone, visit.visited_at]
        recipients: [sms-gateway]
"""

_TYRE_OFFERS = """\
    # 2-use.yaml
    uses:
      - id: tyre-offers
        description: Offers on new tyres by email.
        serves: [grow-tyre-hotel]
        kind: direct_marketing
        legal_basis: consent
        data_subjects: [customer]
        fields: [customer.email, vehicle.tyre_size]
        recipients: [mailer]
        retention: P2Y
"""

_BOOKED_FOR = """\
    # 5-system.yaml
    system:
      entities:
        visit:
          fields:
            booked_for: {type: datetime, category: behavioural}
    # 2-use.yaml
    uses:
      - id: service-history
        fields: [visit.booked_for]
    # 3-questions.yaml
    questions:
      - id: weekly-tyre-load
        needs: [visit.booked_for]
"""

_WINTER_CHECK = """\
    activations:
      - id: winter-check
        use: seasonal-reminders
        channel: email
        audience:
          entity: customer
          where: [{field: vehicle.tyre_type, op: eq, value: winter}]
        message: Time for the winter check of your car.
        frequency_cap: {max: 1, per: P30D}
        owner: marketing
"""

EXAMPLES: dict[str, Example] = {
    # ── reading the files ────────────────────────────────────────────────────────────────────
    "file-missing": _x("$ tietotie validate strategi", "$ tietotie validate strategy"),
    "file-unreadable": _x(
        "1-goal.yaml was copied in by another user, and only they may read it (mode 600).",
        "Make the file readable to whoever runs validate: chmod 644 strategy/1-goal.yaml.",
    ),
    "file-too-large": _x(
        "A customer export of several megabytes is pasted into 4-sources.yaml.",
        "Keep only declarations in the strategy; customer records go in with tietotie import.",
    ),
    "not-utf8": _x(
        "An old editor saved 1-goal.yaml as Latin-1 (Windows-1252): the 'ä' of 'Pidämme' is "
        "the single byte 0xe4.",
        "Save the file as UTF-8 (in most editors: Save with encoding, UTF-8).",
    ),
    "yaml-syntax": _x(
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits: we remind customers the day before.
            owner: service-advisor
            value_eur_per_year: 7000
        """,
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: "Fewer missed visits: we remind customers the day before."
            owner: service-advisor
            value_eur_per_year: 7000
        """,
    ),
    "yaml-duplicate-key": _x(
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            owner: owner
            owner: service-advisor
            value_eur_per_year: 7000
        """,
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            owner: service-advisor
            value_eur_per_year: 7000
        """,
    ),
    "yaml-alias-bomb": _x(
        """
        # 1-goal.yaml, the whole file
        a: &a [x, x, x, x, x, x, x, x, x, x]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
        goals: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
        """,
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            owner: service-advisor
            value_eur_per_year: 7000
        """,
    ),
    "yaml-merge-key": _x(
        """
        # 1-goal.yaml, the whole file
        goals:
          - &goal
            id: fewer-no-shows
            statement: Fewer missed visits.
            owner: service-advisor
            value_eur_per_year: 7000
          - <<: *goal
            id: shorter-queues
            statement: Shorter queues at the reception.
        """,
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            owner: service-advisor
            value_eur_per_year: 7000
          - id: shorter-queues
            statement: Shorter queues at the reception.
            owner: service-advisor
            value_eur_per_year: 7000
        """,
    ),
    "yaml-bad-key": _x(
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            [owner, service-advisor]: both answer for it
            value_eur_per_year: 7000
        """,
        """
        # 1-goal.yaml, the whole file
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            owner: service-advisor
            value_eur_per_year: 7000
        """,
    ),
    "not-a-mapping": _x(
        """
        # 6-reporting.yaml, the whole file
        - id: churn-report
          answers: [lapsed-customers]
          audience: [owner, marketing]
          fields: [visit.visited_at, customer.customer_since, customer.branch]
          identity: pseudonymised
          refresh: P7D
        """,
        """
        # 6-reporting.yaml, the whole file
        reports:
          - id: churn-report
            answers: [lapsed-customers]
            audience: [owner, marketing]
            fields: [visit.visited_at, customer.customer_since, customer.branch]
            identity: pseudonymised
            refresh: P7D
        """,
    ),
    "duplicate-section": _x(
        "    # 8-campaigns.yaml, the whole file\n" + _WINTER_CHECK,
        "    # 7-activation.yaml\n" + _WINTER_CHECK,
    ),
    "unknown-key": _x(
        """
        # 2-use.yaml
        uses:
          - id: bookkeeping
            retension: P6Y
        """,
        """
        # 2-use.yaml
        uses:
          - id: bookkeeping
            retention: P6Y
        """,
    ),
    "missing-key": _x(
        """
        # organisation.yaml
        processors:
          - id: web-host
            name: Hostinen Oy
            dpa_signed: 2026-01-15
        """,
        """
        # organisation.yaml
        processors:
          - id: web-host
            name: Hostinen Oy
            country: FI
            dpa_signed: 2026-01-15
        """,
    ),
    "invalid-value": _x(
        """
        # 2-use.yaml
        uses:
          - id: bookkeeping
            legal_basis: legal-obligation
        """,
        """
        # 2-use.yaml
        uses:
          - id: bookkeeping
            legal_basis: legal_obligation
        """,
    ),
    # ── identities and references ────────────────────────────────────────────────────────────
    "duplicate-id": _x(
        """
        # 3-questions.yaml
        questions:
          - id: hotel-renewals
            text: Whose tyres have been in the hotel for over a year?
            for_uses: [tyre-hotel]
            priority: 2
            value_eur_per_year: 2000
            needs: [tyre_storage.stored_since, customer.phone]
          - id: hotel-renewals
            text: Which stored tyres are studded?
            for_uses: [tyre-hotel]
            priority: 3
            value_eur_per_year: 1000
            needs: [tyre_storage.studded]
        """,
        """
        # 3-questions.yaml
        questions:
          - id: hotel-renewals
            text: Whose tyres have been in the hotel for over a year?
            for_uses: [tyre-hotel]
            priority: 2
            value_eur_per_year: 2000
            needs: [tyre_storage.stored_since, customer.phone]
          - id: studded-tyres
            text: Which stored tyres are studded?
            for_uses: [tyre-hotel]
            priority: 3
            value_eur_per_year: 1000
            needs: [tyre_storage.studded]
        """,
    ),
    "unknown-role": _x(
        """
        # 1-goal.yaml
        goals:
          - id: grow-tyre-hotel
            owner: marketting
        """,
        """
        # 1-goal.yaml
        goals:
          - id: grow-tyre-hotel
            owner: marketing
        """,
    ),
    "unknown-processor": _x(
        """
        # 2-use.yaml
        uses:
          - id: customer-feedback
            recipients: [mailchimp]
        """,
        """
        # 2-use.yaml
        uses:
          - id: customer-feedback
            recipients: [mailer]
        """,
    ),
    "unknown-goal": _x(
        """
        # 2-use.yaml
        uses:
          - id: tyre-hotel
            serves: [grow-tyre-hotels]
        """,
        """
        # 2-use.yaml
        uses:
          - id: tyre-hotel
            serves: [grow-tyre-hotel]
        """,
    ),
    "unknown-use": _x(
        """
        # 3-questions.yaml
        questions:
          - id: satisfaction
            for_uses: [customer-feedbak]
        """,
        """
        # 3-questions.yaml
        questions:
          - id: satisfaction
            for_uses: [customer-feedback]
        """,
    ),
    "unknown-question": _x(
        """
        # 6-reporting.yaml
        reports:
          - id: satisfaction-report
            answers: [satisfation]
        """,
        """
        # 6-reporting.yaml
        reports:
          - id: satisfaction-report
            answers: [satisfaction]
        """,
    ),
    "unknown-entity": _x(
        """
        # 7-activation.yaml
        activations:
          - id: worn-tyre-notice
            audience: {entity: customers}
        """,
        """
        # 7-activation.yaml
        activations:
          - id: worn-tyre-notice
            audience: {entity: customer}
        """,
    ),
    "unknown-field": _x(
        """
        # 2-use.yaml
        uses:
          - id: service-history
            fields: [visit.milage_km]
        """,
        """
        # 2-use.yaml
        uses:
          - id: service-history
            fields: [visit.mileage_km]
        """,
    ),
    # ── purpose and minimisation ─────────────────────────────────────────────────────────────
    "use-serves-no-goal": _x(
        _BOOKING_REMINDERS + "        retention: P3M\n",
        _BOOKING_REMINDERS + "        retention: P3M\n        serves: [keep-customers]\n",
    ),
    "goal-not-served": _x(
        """
        # 1-goal.yaml
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            owner: service-advisor
            value_eur_per_year: 7000
        """,
        """
        # 1-goal.yaml
        goals:
          - id: fewer-no-shows
            statement: Fewer missed visits.
            owner: service-advisor
            value_eur_per_year: 7000
        # 2-use.yaml
        uses:
          - id: service-history
            serves: [fewer-no-shows]
        """,
    ),
    "field-without-purpose": _x(
        """
        # 5-system.yaml
        system:
          entities:
            visit:
              fields:
                booked_for: {type: datetime, category: behavioural}
        """,
        """
        # 5-system.yaml
        system:
          entities:
            visit:
              fields:
                booked_for: {type: datetime, category: behavioural}
        # 2-use.yaml
        uses:
          - id: service-history
            fields: [visit.booked_for]
        """,
    ),
    "field-not-collected": _x(
        _BOOKED_FOR,
        _BOOKED_FOR
        + """\
    # 4-sources.yaml
    sources:
      - id: booking-form
        collects: [visit.booked_for]
""",
    ),
    "field-outside-use": _x(
        """
        # 3-questions.yaml
        questions:
          - id: satisfaction
            needs: [customer.phone]
        """,
        """
        # 2-use.yaml
        uses:
          - id: customer-feedback
            fields: [customer.phone]   # we call back those who gave a low score
        # 3-questions.yaml
        questions:
          - id: satisfaction
            needs: [customer.phone]
        """,
    ),
    "use-without-retention": _x(
        _BOOKING_REMINDERS + "        serves: [keep-customers]\n",
        _BOOKING_REMINDERS + "        serves: [keep-customers]\n        retention: P3M\n",
    ),
    "cost-exceeds-value": _x(
        """
        # 4-sources.yaml
        sources:
          - id: feedback-survey
            cost_eur_per_record: 25
        """,
        """
        # 4-sources.yaml
        sources:
          - id: feedback-survey
            cost_eur_per_record: 0.30
        """,
    ),
    # ── legal bases ──────────────────────────────────────────────────────────────────────────
    "law-missing": _x(
        """
        # 2-use.yaml
        uses:
          - id: tax-audit-copies
            description: Copies of invoices for the tax authority's audit.
            kind: legal_compliance
            legal_basis: legal_obligation
            data_subjects: [customer]
            fields: [visit.invoice_number, visit.amount_eur]
            recipients: []
            retention: P6Y
        """,
        """
        # 2-use.yaml
        uses:
          - id: tax-audit-copies
            description: Copies of invoices for the tax authority's audit.
            kind: legal_compliance
            legal_basis: legal_obligation
            law: Kirjanpitolaki 1336/1997 2 luku 10 §
            data_subjects: [customer]
            fields: [visit.invoice_number, visit.amount_eur]
            recipients: []
            retention: P6Y
        """,
    ),
    "li-without-assessment": _x(
        """
        # 2-use.yaml
        uses:
          - id: tyre-hotel
            legal_basis: legitimate_interests
        """,
        """
        # 2-use.yaml
        uses:
          - id: tyre-hotel
            legal_basis: legitimate_interests
            legitimate_interest_assessment: >-
              Interest: keep stored tyres safe to drive on. Necessity: only the tread depth
              and a phone number. Balance: the customer expects the call; it sells nothing.
        """,
    ),
    "consent-validity-missing": _x(
        _TYRE_OFFERS
        + """\
    # 4-sources.yaml
    sources:
      - id: booking-form
        consent_for: [tyre-offers]
""",
        _TYRE_OFFERS
        + """\
        consent_valid_for: P2Y
    # 4-sources.yaml
    sources:
      - id: booking-form
        consent_for: [tyre-offers]
""",
    ),
    "consent-not-capturable": _x(
        _TYRE_OFFERS + "        consent_valid_for: P2Y\n",
        _TYRE_OFFERS
        + """\
        consent_valid_for: P2Y
    # 4-sources.yaml
    sources:
      - id: booking-form
        consent_for: [tyre-offers]
""",
    ),
    "consent-not-withdrawable-online": _x(
        """
        # 4-sources.yaml
        sources:
          - id: privacy-center
            channel: web_form
        """,
        """
        # 4-sources.yaml
        sources:
          - id: privacy-center
            channel: privacy_center
            consent_for: [seasonal-reminders, accessibility-service]
        """,
    ),
    "consent-for-non-consent-use": _x(
        """
        # 4-sources.yaml
        sources:
          - id: booking-form
            consent_for: [service-history]
        """,
        """
        # 4-sources.yaml
        sources:
          - id: booking-form
            consent_for: [seasonal-reminders, accessibility-service]
        """,
    ),
    "special-category-without-condition": _x(
        """
        # 2-use.yaml
        uses:
          - id: customer-feedback
            fields: [customer.accessibility_need]
        """,
        """
        # 2-use.yaml
        uses:
          - id: accessibility-service       # the one use with an Art. 9(2) condition
            special_category_condition: explicit_consent
            fields: [customer.accessibility_need]
        """,
    ),
    "activation-basis-invalid": _x(
        """
        # 2-use.yaml
        uses:
          - id: tyre-offers
            description: Offers on new tyres by text message.
            serves: [grow-tyre-hotel]
            kind: direct_marketing
            legal_basis: contract
            data_subjects: [customer]
            fields: [customer.phone, vehicle.tyre_size]
            recipients: [sms-gateway]
            retention: P1Y
        # 7-activation.yaml
        activations:
          - id: spring-tyre-offer
            use: tyre-offers
            channel: sms
            audience: {entity: customer, where: [{field: vehicle.tyre_size, op: exists}]}
            message: New tyres 15 % off in March.
            frequency_cap: {max: 1, per: P30D}
            owner: marketing
        """,
        """
        # 2-use.yaml
        uses:
          - id: tyre-offers
            description: Offers on new tyres by text message.
            serves: [grow-tyre-hotel]
            kind: direct_marketing
            legal_basis: consent
            consent_valid_for: P2Y
            data_subjects: [customer]
            fields: [customer.phone, vehicle.tyre_size]
            recipients: [sms-gateway]
            retention: P1Y
        # 4-sources.yaml
        sources:
          - id: booking-form
            consent_for: [tyre-offers]
        # 7-activation.yaml
        activations:
          - id: spring-tyre-offer
            use: tyre-offers
            channel: sms
            audience: {entity: customer, where: [{field: vehicle.tyre_size, op: exists}]}
            message: New tyres 15 % off in March.
            frequency_cap: {max: 1, per: P30D}
            owner: marketing
        """,
    ),
    "transfer-without-safeguard": _x(
        """
        # organisation.yaml
        processors:
          - id: survey-tool
            name: AskFast Inc.
            country: US
            dpa_signed: 2026-02-01
        """,
        """
        # organisation.yaml
        processors:
          - id: survey-tool
            name: AskFast Inc.
            country: US
            dpa_signed: 2026-02-01
            transfer_safeguard: standard_contractual_clauses
        """,
    ),
    "invalid-country": _x(
        """
        # organisation.yaml
        processors:
          - id: parts-supplier
            name: Tyres Direct Ltd
            country: UK
            dpa_signed: 2026-02-01
            transfer_safeguard: adequacy_decision
        """,
        """
        # organisation.yaml
        processors:
          - id: parts-supplier
            name: Tyres Direct Ltd
            country: GB
            dpa_signed: 2026-02-01
            transfer_safeguard: adequacy_decision
        """,
    ),
    # ── impact assessment ────────────────────────────────────────────────────────────────────
    "dpia-required": _x(
        """
        # 2-use.yaml
        uses:
          - id: service-quality-analytics
            kind: profiling                   # a churn score for every customer
            automated_decision_making: true   # the score alone decides who gets a discount
        """,
        """
        # 2-use.yaml
        uses:
          - id: service-quality-analytics
            kind: profiling
            automated_decision_making: true
            dpia:
              ref: TVA-2026-02
              done_on: 2026-11-20
              outcome: >-
                Acceptable remaining risk: the notice tells customers about the score, any
                customer may have a person review the decision (Art. 22(3)), and the score
                uses no contact details.
              review_by: 2029-11-20
        """,
    ),
    # ── who may do what beyond reading data ──────────────────────────────────────────────────
    "pseudonymise-without-domains": _x(
        """
        # organisation.yaml
        roles:
          - id: auditor
            duties: [pseudonymise]
        """,
        """
        # organisation.yaml
        roles:
          - id: auditor
            duties: [pseudonymise]
            pseudonymise_domains: [analytics-extract]
        """,
    ),
    "pseudonymise-domains-without-duty": _x(
        """
        # organisation.yaml
        roles:
          - id: service-advisor
            pseudonymise_domains: [analytics-extract]
        """,
        """
        # organisation.yaml
        roles:
          - id: service-advisor
            duties: [pseudonymise]
            pseudonymise_domains: [analytics-extract]
        """,
    ),
    "pseudonymise-received-domain": _x(
        """
        # organisation.yaml
        roles:
          - id: owner                      # receives the pseudonymised churn-report
            pseudonymise_domains: [reporting]
        """,
        """
        # organisation.yaml
        roles:
          - id: owner
            pseudonymise_domains: [mailer-suppression]
        """,
    ),
    # ── the system of record ─────────────────────────────────────────────────────────────────
    "subject-entity": _x(
        """
        # 5-system.yaml
        system:
          entities:
            vehicle:
              subject: true
        """,
        """
        # 5-system.yaml
        system:
          entities:
            vehicle:
              parent: customer             # customer alone is the subject
        """,
    ),
    "entity-parent": _x(
        """
        # 5-system.yaml
        system:
          entities:
            loan_car:
              fields:
                plate: {type: string, category: identifier}
        # 2-use.yaml
        uses:
          - id: service-history
            fields: [loan_car.plate]
        """,
        """
        # 5-system.yaml
        system:
          entities:
            loan_car:
              parent: customer
              fields:
                plate: {type: string, category: identifier}
        # 2-use.yaml
        uses:
          - id: service-history
            fields: [loan_car.plate]
        """,
    ),
    "identifier-not-field": _x(
        """
        # 5-system.yaml
        system:
          entities:
            customer:
              identifiers: [mobile]
        """,
        """
        # 5-system.yaml
        system:
          entities:
            customer:
              identifiers: [phone]
        """,
    ),
    "enum-values": _x(
        """
        # 5-system.yaml
        system:
          entities:
            visit:
              fields:
                payment_status: {type: enum, category: financial}
        # 2-use.yaml
        uses:
          - id: bookkeeping
            fields: [visit.payment_status]
        """,
        """
        # 5-system.yaml
        system:
          entities:
            visit:
              fields:
                payment_status: {type: enum, values: [open, paid, overdue], category: financial}
        # 2-use.yaml
        uses:
          - id: bookkeeping
            fields: [visit.payment_status]
        """,
    ),
    "operator-type-mismatch": _x(
        """
        # 7-activation.yaml
        activations:
          - id: spring-tyre-reminder
            audience:
              where: [{field: customer.branch, op: before, value: vantaa}]
        """,
        """
        # 7-activation.yaml
        activations:
          - id: spring-tyre-reminder
            audience:
              where: [{field: customer.branch, op: eq, value: vantaa}]
        """,
    ),
    "condition-value-invalid": _x(
        """
        # 7-activation.yaml
        activations:
          - id: november-tyre-campaign
            audience:
              where: [{field: vehicle.tyre_type, op: ne, value: studded}]
        """,
        """
        # 7-activation.yaml
        activations:
          - id: november-tyre-campaign
            audience:
              where: [{field: vehicle.tyre_type, op: ne, value: winter}]
        """,
    ),
    "read-and-masked": _x(
        """
        # 5-system.yaml
        system:
          access:
            - role: auditor
              for: [bookkeeping]
              read: [visit.invoice_number]
              masked: [visit.invoice_number]
        """,
        """
        # 5-system.yaml
        system:
          access:
            - role: auditor
              for: [bookkeeping]
              masked: [visit.invoice_number]
        """,
    ),
    "identified-report-without-access": _x(
        """
        # 6-reporting.yaml
        reports:
          - id: worn-tyre-calls
            answers: [worn-tyres]
            audience: [marketing]
            fields: [customer.name, customer.phone, tyre_storage.tread_depth_mm]
            identity: identified
            refresh: P7D
        """,
        """
        # 6-reporting.yaml
        reports:
          - id: worn-tyre-calls
            answers: [worn-tyres]
            audience: [service-advisor]    # reads these fields for tyre-hotel
            fields: [customer.name, customer.phone, tyre_storage.tread_depth_mm]
            identity: identified
            refresh: P7D
        """,
    ),
    "audience-not-subject": _x(
        """
        # 7-activation.yaml
        activations:
          - id: worn-tyre-notice
            audience: {entity: tyre_storage}
        """,
        """
        # 7-activation.yaml
        activations:
          - id: worn-tyre-notice
            audience: {entity: customer}
        """,
    ),
    "retention-override-unused": _x(
        """
        # 5-system.yaml
        system:
          entities:
            tyre_storage:
              retention: P6Y               # meant for the storage fees' vouchers
        """,
        """
        # 5-system.yaml
        system:
          entities:
            tyre_storage:
              retention: P6Y
        # 2-use.yaml
        uses:
          - id: bookkeeping                # the legal obligation that keeps the fees
            fields: [tyre_storage.fee_eur]
        """,
    ),
}
"""Rule id → its example; every rule of :data:`schemas.rules.RULES` has one."""
