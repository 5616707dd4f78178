@dsar
Feature: Erasure is honest and resumable
  The car-service company's webshop keeps its own orders, so an erasure must reach it too. An
  erasure is a recorded plan: while any system is not reached it stays in progress and says
  so, and a retry resumes only what is unfinished.

  Background:
    Given the car-service company holds the customer "liisa@example.fi"
    And the webshop holds 2 orders of "liisa@example.fi" and 1 of "pekka@example.fi"

  @art17
  Rule: Art. 17(1) erasure is complete only when every system holding the data is reached

    Scenario: An unreachable webshop keeps the erasure open until a retry reaches it
      Given the webshop cannot be reached
      When "liisa@example.fi" asks for erasure and staff verify them in person
      And privacy staff fulfil the erasure
      Then the request is "in_progress"
      And the result says the "webshop" was not reached
      And the result says the "main database" and the "keystore" are done
      When the webshop can be reached again
      And privacy staff retry the erasure
      Then the request is "completed"
      And the result says the "webshop" erased 2 rows
      And the webshop holds orders only of "pekka@example.fi"
      And the audit log holds the plan and every step of the erasure
