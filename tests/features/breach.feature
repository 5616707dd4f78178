Feature: The breach register says whom a breach touched and who must be told
  The car-service company keeps every personal data breach in its register, notified or not
  (Art. 33(5)). From its declarations and its system of record the register works out how many
  customers and records a breach touched, which categories of data, which of them were held
  only encrypted, the 72 hours to the supervisory authority and whether the customers must be
  told; it drafts both notifications in Finnish, the company's language.

  Background:
    Given the car-service company holds 3 customers with a car, 1 of them with an accessibility need
    And the auditor "Mikko Lehtinen" has a staff token

  @art33 @art34
  Rule: Art. 34(3)(a) data held only encrypted, under keys not compromised, needs no message

    Scenario: A copy of the encrypted columns leaks
      When the auditor records a confidentiality breach of "field:vehicle.plate, field:customer.accessibility_need"
      Then the breach touched 3 customers and 4 records
      And the fields held only encrypted are "customer.accessibility_need, vehicle.plate"
      And the authority need not be notified
      And the customers need not be told

    Scenario: The keys leaked with the columns
      When the auditor records a confidentiality breach of "field:customer.accessibility_need" with the keys compromised
      Then the risk is "high"
      And the customers must be told
      And the message to the customers names "terveystiedot"

  @art33
  Rule: Art. 33(1) the authority is notified within 72 hours, and a late notification gives its reasons

    Scenario: A breach at the SMS gateway, outside the EEA
      When the auditor records a confidentiality breach of "processor:sms-gateway"
      Then the risk is "risk"
      And the authority must be notified within 72 hours of the discovery
      And the notification to the authority names "TextRelay Inc. (US), ETA-alueen ulkopuolella"
      And the customers need not be told

    Scenario: Notifying four days late needs the reasons for the delay
      Given the auditor recorded a confidentiality breach of "entity:customer" discovered 4 days ago
      When the auditor records that the authority was notified
      Then the register refuses, asking for the reasons for the delay
      When the auditor records that the authority was notified, because "the processor told us only on day 4"
      Then the register shows the authority notified
      And the notification to the authority names "the processor told us only on day 4"
      And the audit log names "Mikko Lehtinen" for each step of the breach

  @art34
  Rule: Art. 34(1) a high risk to the customers means they are told without undue delay

    Scenario: The booking form leaked accessibility needs in clear
      When the auditor records a confidentiality breach of "source:booking-form"
      Then the risk is "high"
      And the customers must be told
      And the message to the customers names "terveystiedot"
