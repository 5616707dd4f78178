@activation
Feature: Campaigns reach only whom the law allows, and reports never show a restricted customer
  An activation runs under one use. Its audience is the customers its conditions select, minus
  everyone the use may not reach now: no current consent for a consent-based use, a restriction
  (Art. 18), an objection to direct marketing (Art. 21), or the campaign's frequency cap. Each
  run says in numbers who was left out and why.

  Background:
    Given the car-service company holds these customers
      | email              | tyres      | last visit   | seasonal reminders |
      | aino@example.fi    | summer     | 40 days ago  | given              |
      | eero@example.fi    | summer     | 100 days ago | given              |
      | sanna@example.fi   | summer     | 40 days ago  | none               |
      | ville@example.fi   | winter     | 40 days ago  | given              |
      | helena@example.fi  | summer     | 3 years ago  | given              |
      | onni@example.fi    | all_season | 10 days ago  | refused            |

  @art6 @art7
  Scenario: the November tyre campaign reaches exactly the consenting summer-tyre customers
    When marketing asks for the audience of "november-tyre-campaign"
    Then the audience is exactly "aino@example.fi, eero@example.fi"
    And the run counts 3 matched, 1 without consent and 2 reached
    And the audience shows the email in clear and the name masked

  @art7
  Scenario: a withdrawal removes the customer from the next audience
    Given "aino@example.fi" withdraws consent to "seasonal-reminders"
    When marketing asks for the audience of "november-tyre-campaign"
    Then the audience is exactly "eero@example.fi"
    And the run counts 3 matched, 2 without consent and 1 reached

  @art21
  Scenario: an objection to direct marketing removes the customer from the next audience
    Given "eero@example.fi" objects to direct marketing
    When marketing asks for the audience of "november-tyre-campaign"
    Then the audience is exactly "aino@example.fi"

  @art18
  Scenario: a restricted customer is in no audience and appears in no report
    Given "aino@example.fi" has restricted the processing of their data
    When marketing asks for the audience of "november-tyre-campaign"
    Then the audience is exactly "eero@example.fi"
    And the run counts 3 matched, 1 restricted and 1 reached
    And "aino@example.fi" appears in none of the reports "churn-report, tyre-hotel-calls"
    And "aino@example.fi" is not counted in "tyre-change-load"

  Scenario: the frequency cap excludes a customer after two sends in 30 days
    When marketing sends "november-tyre-campaign" and records the send
    And marketing sends "november-tyre-campaign" and records the send
    And marketing asks for the audience of "november-tyre-campaign"
    Then the audience is empty
    And the run counts 3 matched, 2 capped and 0 reached

  Scenario: a role that does not hold the campaign's use gets no audience
    When the mechanic asks for the audience of "november-tyre-campaign"
    Then the request is refused naming "seasonal-reminders"
