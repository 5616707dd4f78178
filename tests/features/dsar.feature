@dsar
Feature: Customers exercise their rights and the company answers completely, on time, provably
  A customer of the car-service company opens a request over HTTP, proves who they are with
  a code sent to the email address the company already holds, and privacy staff fulfil it.

  Background:
    Given the car-service company holds the customer "liisa@example.fi" with a vehicle and a visit

  @art12
  Rule: Art. 12(3) and 12(6) answer within a month, and only to the person themselves

    Scenario: A request is due one month on, moved off holidays
      When "liisa@example.fi" asks for "access" on 2026-11-24
      Then the request is due on 2026-12-28

    Scenario: A stranger learns nothing about who is a customer
      When "liisa@example.fi" asks for "access"
      And "stranger@example.fi" asks for "access"
      Then both answers look alike
      And a code was sent only to "liisa@example.fi"

  @art15
  Rule: Art. 15 right of access

    Scenario: A verified customer receives every record and why it is processed
      When "liisa@example.fi" asks for "access"
      And the requester verifies with the code sent to them
      And the requester downloads the export
      Then the export holds "customer", "vehicle" and "visit" records
      And every purpose in the export names its legal basis and retention

  @art20
  Rule: Art. 20 right to data portability

    Scenario: The portable copy holds what the customer provided
      When "liisa@example.fi" asks for "portability"
      And the requester verifies with the code sent to them
      And the requester downloads the export
      Then the export holds "customer", "vehicle" and "visit" records

  @art16
  Rule: Art. 16 right to rectification, and Art. 19 notification of recipients

    Scenario: A corrected phone number is validated and applied
      When "liisa@example.fi" asks to rectify "customer.phone" to "+358 40 999 9999"
      And the requester verifies with the code sent to them
      And privacy staff fulfil the request
      Then the customer's "phone" reads "+358409999999"
      And the result lists recipients to notify

  @art17
  Rule: Art. 17(3)(b) erasure keeps only what a legal obligation requires

    Scenario: Erasure removes the vehicle, keeps the vouchers and says why
      When "liisa@example.fi" asks for "erasure"
      And the requester verifies with the code sent to them
      And privacy staff fulfil the request
      Then the result erased the "vehicle" records
      And the result kept "visit" records because of "Kirjanpitolaki"
      And the subject's key is destroyed

  @art18
  Rule: Art. 18 restriction keeps data stored and out of use

    Scenario: A restriction stands against the customer
      When "liisa@example.fi" asks for "restriction"
      And the requester verifies with the code sent to them
      And privacy staff fulfil the request
      Then a "restriction" stands against the customer

  @art21
  Rule: Art. 21(3) objection to direct marketing takes effect at once

    Scenario: Objecting withdraws marketing consent
      Given the customer consented to "seasonal-reminders"
      When "liisa@example.fi" asks for "objection"
      And the requester verifies with the code sent to them
      And privacy staff fulfil the request
      Then consent to "seasonal-reminders" is "withdrawn"
      And an "objection" stands against the customer
