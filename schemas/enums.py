"""The closed vocabularies of the strategy format, each citing the GDPR article it comes from."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "SPECIAL_CATEGORIES",
    "ActivationChannel",
    "Art9Condition",
    "Category",
    "Chart",
    "Duty",
    "FieldType",
    "IdentityLevel",
    "LegalBasis",
    "Operator",
    "OutputDomain",
    "Protect",
    "SourceChannel",
    "TransferSafeguard",
    "UseKind",
]


class LegalBasis(StrEnum):
    """The lawful basis of a processing purpose: Art. 6(1)(a)-(f) GDPR."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class UseKind(StrEnum):
    """What kind of purpose a use is; direct marketing carries the Art. 21(2) right to object."""

    DIRECT_MARKETING = "direct_marketing"
    PROFILING = "profiling"
    SERVICE_DELIVERY = "service_delivery"
    CUSTOMER_SERVICE = "customer_service"
    ANALYTICS = "analytics"
    PRODUCT_DEVELOPMENT = "product_development"
    LEGAL_COMPLIANCE = "legal_compliance"
    SECURITY = "security"


class Art9Condition(StrEnum):
    """The condition that lifts the ban on processing special categories: Art. 9(2)(a)-(j) GDPR."""

    EXPLICIT_CONSENT = "explicit_consent"
    EMPLOYMENT = "employment"
    VITAL_INTERESTS = "vital_interests"
    NOT_FOR_PROFIT = "not_for_profit"
    MADE_PUBLIC = "made_public"
    LEGAL_CLAIMS = "legal_claims"
    SUBSTANTIAL_PUBLIC_INTEREST = "substantial_public_interest"
    HEALTH_CARE = "health_care"
    PUBLIC_HEALTH = "public_health"
    RESEARCH = "research"


class TransferSafeguard(StrEnum):
    """The ground for a transfer outside the EEA: Art. 45, 46(2)(c), 47 and 49 GDPR."""

    ADEQUACY_DECISION = "adequacy_decision"
    STANDARD_CONTRACTUAL_CLAUSES = "standard_contractual_clauses"
    BINDING_CORPORATE_RULES = "binding_corporate_rules"
    DEROGATION = "derogation"


class Duty(StrEnum):
    """A duty beyond reading data that a role may be given (Art. 24 and 38-39 GDPR).

    ``requests`` handles data-subject requests (Art. 12-22); ``audit`` reads the audit log and
    the policy (Art. 5(2)); ``reidentify`` reverses encrypt tokens; ``consents`` records consent
    through any source, not only those the role collects for (Art. 7(1)); ``pseudonymise``
    computes tokens, of the domains the role's ``pseudonymise_domains`` names only (Art. 4(5)).
    """

    REQUESTS = "requests"
    AUDIT = "audit"
    REIDENTIFY = "reidentify"
    CONSENTS = "consents"
    PSEUDONYMISE = "pseudonymise"


class OutputDomain(StrEnum):
    """Pseudonymisation domains of the service's own pseudonymised outputs (Art. 4(5) GDPR).

    Pseudonymised data stays pseudonymous only while its reader cannot compute the tokens from
    clear values, so no role that receives one of these outputs may pseudonymise into its
    domain (`tietotie validate`: ``pseudonymise-received-domain``).
    """

    REPORTING = "reporting"
    """Rows of pseudonymised reports (6-reporting.yaml ``identity: pseudonymised``)."""
    ACTIVATION_EXPORT = "activation-export"
    """Masked identifiers in campaign audience exports."""
    MASKED_READ = "masked-read"
    """Masked identifiers in staff reads of a subject (``masked:`` grants)."""


class FieldType(StrEnum):
    """The type of a field held in the system of record."""

    STRING = "string"
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    COUNTRY = "country"
    POSTAL_CODE = "postal_code"
    URL = "url"


class Category(StrEnum):
    """The category of personal data a field holds; Art. 9 special categories and Art. 10."""

    IDENTITY = "identity"
    CONTACT = "contact"
    IDENTIFIER = "identifier"
    ONLINE_IDENTIFIER = "online_identifier"
    DESCRIPTIVE = "descriptive"
    BEHAVIOURAL = "behavioural"
    CONTEXTUAL = "contextual"
    FINANCIAL = "financial"
    LOCATION = "location"
    HEALTH = "health"
    BIOMETRIC = "biometric"
    GENETIC = "genetic"
    RACIAL_ETHNIC = "racial_ethnic"
    POLITICAL = "political"
    RELIGIOUS = "religious"
    TRADE_UNION = "trade_union"
    SEX_LIFE = "sex_life"
    CRIMINAL = "criminal"
    NON_PERSONAL = "non_personal"


SPECIAL_CATEGORIES: frozenset[Category] = frozenset(
    {
        Category.HEALTH,
        Category.BIOMETRIC,
        Category.GENETIC,
        Category.RACIAL_ETHNIC,
        Category.POLITICAL,
        Category.RELIGIOUS,
        Category.TRADE_UNION,
        Category.SEX_LIFE,
    }
)
"""Art. 9(1) GDPR: processing is prohibited unless an Art. 9(2) condition applies."""


class Protect(StrEnum):
    """How a field leaves the system of record in pseudonymised outputs (Art. 4(5), 32(1)(a))."""

    NONE = "none"
    HMAC = "hmac"
    ENCRYPT = "encrypt"


class SourceChannel(StrEnum):
    """Where a source collects data; Art. 13 (from the subject) or Art. 14 (from others)."""

    WEB_FORM = "web_form"
    CHECKOUT = "checkout"
    POINT_OF_SALE = "point_of_sale"
    PHONE = "phone"
    EMAIL = "email"
    SURVEY = "survey"
    SOCIAL_MEDIA = "social_media"
    IMPORT = "import"
    PARTNER = "partner"
    PRIVACY_CENTER = "privacy_center"
    """The controller's own privacy center (``/privacy``): the customer's consent choices."""


class ActivationChannel(StrEnum):
    """How an activation reaches the subject; electronic channels fall under ePrivacy rules."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    POST = "post"
    PUSH = "push"
    IN_APP = "in_app"
    ADS = "ads"


class IdentityLevel(StrEnum):
    """How identifiable a report's rows are (Art. 4(5) pseudonymisation, Recital 26)."""

    AGGREGATED = "aggregated"
    PSEUDONYMISED = "pseudonymised"
    IDENTIFIED = "identified"


class Chart(StrEnum):
    """How a report is drawn."""

    BAR = "bar"
    LINE = "line"
    PIE = "pie"
    TABLE = "table"


class Operator(StrEnum):
    """A condition operator in an audience's `where` or an access grant's `rows`."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    BEFORE = "before"
    AFTER = "after"
    WITHIN = "within"
    EXISTS = "exists"
