@strategy
Feature: Process owners validate the customer-data strategy
  A process owner edits the strategy in YAML and runs one command that tells them,
  precisely and kindly, whether the road from goal to activation holds together.

  Scenario: The bundled example company validates clean
    Given the bundled strategy
    When the process owner validates it
    Then no error is reported
    And the summary counts at least 2 goals, 5 uses, 6 questions, 4 sources and 4 entities

  Scenario: The business-to-business example validates clean
    Given the strategy in "tests/examples/b2b-wholesaler"
    When the process owner validates it
    Then no error is reported

  Rule: Art. 5(1)(c) data minimisation: every field held serves a use

    Scenario: A field collected without a purpose is reported where it is declared
      Given a copy of the minimal strategy
      And in "5-system.yaml" the line "  access:" reads "    survey:\n      parent: customer\n      fields:\n        shoe_size: {type: integer, category: descriptive}\n  access:"
      When the process owner validates it
      Then "field-without-purpose" is reported in "5-system.yaml" at the line containing "shoe_size"

  Rule: Art. 6(1)(f) legitimate interests need a balancing test

    Scenario: A use on legitimate interests without an assessment is an error
      Given a copy of the minimal strategy
      And in "2-use.yaml" the line "legal_basis: contract" reads "legal_basis: legitimate_interests"
      When the process owner validates it
      Then "li-without-assessment" is reported in "2-use.yaml" at the line containing "legitimate_interests"

  Rule: Art. 9(2) special categories need a condition on every use that needs them

    Scenario: A health note used without a condition is an error
      Given a copy of the minimal strategy
      And in "2-use.yaml" the line "    special_category_condition: explicit_consent\n" reads ""
      When the process owner validates it
      Then "special-category-without-condition" is reported in "2-use.yaml" at the line containing "customer.*"

  Rule: typos never pass silently

    Scenario Outline: A misspelt key is refused with a suggestion
      Given a copy of the minimal strategy
      And in "<file>" the line "<right>" reads "<wrong>"
      When the process owner validates it
      Then "unknown-key" is reported in "<file>" at the line containing "<wrong>"
      And the hint suggests "<suggestion>"

      Examples:
        | file              | right          | wrong          | suggestion  |
        | 2-use.yaml        | legal_basis:   | legal_bassis:  | legal_basis |
        | 1-goal.yaml       | statement:     | statment:      | statement   |
        | 4-sources.yaml    | collected_by:  | colected_by:   | collected_by |

  Rule: one mistake is one finding

    Scenario: A misspelt field in a use is reported once, with how much it explains
      Given a copy of the bundled strategy
      And in "2-use.yaml" the line "      - visit.mileage_km\n" reads "      - visit.milage_km\n"
      When the process owner validates it
      Then "unknown-field" is reported in "2-use.yaml" at the line containing "visit.milage_km"
      And it is the only finding, and it says how many others it explains

    Scenario: A missing key names its declaration by id and lists the allowed values
      Given a copy of the minimal strategy
      And in "2-use.yaml" the line "    legal_basis: consent\n" reads ""
      When the process owner validates it
      Then "missing-key" is reported in "2-use.yaml" at the line containing "id: reminders"
      And the message names "uses[reminders].legal_basis"
      And the hint lists "consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests"
