@strategy @art35
Feature: Screening every use for a data protection impact assessment
  The data protection officer sees, for every use, which of the nine WP248 criteria it meets
  and whether it needs a DPIA; validate warns when a use needs one it does not declare, and
  CI fails on that with validate --strict.

  Scenario: The bundled car service needs no DPIA it lacks
    Given the bundled strategy
    When the uses are screened on 2027-01-01
    Then no use needs a DPIA
    And "accessibility-service" meets only "sensitive_data"
    And the DPIA of "accessibility-service" is "declared"

  Scenario: A use that starts deciding automatically newly needs a DPIA
    Given a copy of the bundled strategy
    And in "2-use.yaml" the line "automated_decision_making: false" reads "automated_decision_making: true"
    When the uses are screened on 2027-01-01
    Then "service-history" needs a DPIA for "automated_decision, matching_datasets"
    And the DPIA of "service-history" is "missing"
    And validate warns "dpia-required" in "2-use.yaml" at the line containing "- id: service-history"
    And validate --strict fails on "dpia-required"

  Scenario: A busier service desk makes health data a listed case of Art. 35(3)(b)
    Given a copy of the bundled strategy
    And in "4-sources.yaml" the line "records_per_year: 3500" reads "records_per_year: 12000"
    When the uses are screened on 2027-01-01
    Then "accessibility-service" needs a DPIA for "sensitive_data, large_scale"
    And "accessibility-service" is the case of Art. "35(3)(b)"
    And the DPIA of "accessibility-service" is "declared"
    And "service-history" needs a DPIA for "large_scale, matching_datasets"

  Scenario Outline: A declared DPIA answers the requirement until its review falls due
    Given a copy of the bundled strategy
    And in "2-use.yaml" the line "automated_decision_making: false" reads "automated_decision_making: true\n    dpia: {ref: TVA-2026-03, done_on: 2026-11-20, outcome: Low remaining risk., review_by: 2029-11-20}"
    When the uses are screened on <day>
    Then the DPIA of "service-history" is "<status>"
    And "service-history" has the problem "<problem>"

    Examples:
      | day        | status     | problem    |
      | 2027-06-01 | declared   | none       |
      | 2029-11-20 | declared   | none       |
      | 2029-11-21 | review_due | review_due |

  Scenario: The wholesaler's order handling and purchase analytics need a DPIA
    Given the strategy in "tests/examples/b2b-wholesaler"
    When the uses are screened on 2027-01-01
    Then "order-handling" needs a DPIA for "large_scale, matching_datasets"
    And "purchase-analytics" needs a DPIA for "large_scale, matching_datasets"
    And "product-panel" does not need a DPIA
    And the DPIA of "order-handling" is "missing"
