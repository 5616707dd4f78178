@dsar
Feature: The request service holds when it is attacked
  Anyone may open a data-subject request, so the public endpoints are where an attacker
  guesses codes, floods, and probes who is a customer. The service limits what they can try,
  answers everyone alike, and hands a requester only the answer given to them, for a time.

  @art32
  Rule: Art. 32 security of processing: at most five wrong codes per request, however many arrive at once

    Scenario: Twenty wrong codes sent at once spend the code
      Given the car-service company holds the customer "liisa@example.fi"
      And "liisa@example.fi" asked for "access"
      When 20 wrong codes are sent at once
      Then 5 of them were counted as wrong
      And the right code is refused, pointing to a new code
      When the requester asks for a new code
      Then the new code verifies the request

  @art12
  Rule: Art. 12(2) facilitate the exercise of rights, but not their abuse: opening is rate-limited for anyone alike

    Scenario Outline: The third request in a minute naming one identifier waits
      Given opening is limited to 2 requests per identifier a minute
      And the car-service company holds the customer "liisa@example.fi"
      When "<email>" asks for "access" 3 times
      Then the first 2 answers are 202 and the last one is 429 with a Retry-After

      Examples:
        | email               |
        | liisa@example.fi    |
        | stranger@example.fi |

  @art15
  Rule: Art. 15 the copy goes to the requester only: their token expires and reads only the answer given at completion

    Scenario: A token stops working a week after verification
      Given the car-service company holds the customer "liisa@example.fi"
      And "liisa@example.fi" asked for "access" and verified
      When 8 days pass
      Then the requester's token is refused as expired

    Scenario: The export after completion is the answer of then, for 30 days
      Given the car-service company holds the customer "liisa@example.fi"
      And "liisa@example.fi" asked for "access" and verified
      And the requester downloaded the export
      When the company records another vehicle for the customer
      And 29 days pass
      Then the export holds 1 "vehicle" record
      When 2 days pass
      Then the export is gone with 410
