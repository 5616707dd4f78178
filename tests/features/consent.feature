@consent @art7
Feature: Consent can be shown, is specific, and is as easy to withdraw as to give
  Every use whose legal basis is consent is a purpose in the consent ledger. Each statement a
  customer makes (given, refused, withdrawn) is a new event with a receipt signed by the
  controller; the current state is derived from the events and nothing is ever rewritten.

  Background:
    Given a customer in the system of record

  Rule: Art. 7(1) the controller can show that the customer consented

    Scenario: consent given on the booking form comes with a receipt signed by the controller
      When the service advisor records consent "given" to "seasonal-reminders" through "booking-form"
      Then the consent is recorded
      And the receipt is signed by the controller's key
      And the receipt names the customer only by the pseudonymous id
      And the consent to "seasonal-reminders" is "given"
      And "seasonal-reminders" may be applied to the customer

    Scenario: a receipt changed after signing does not verify
      When the service advisor records consent "given" to "seasonal-reminders" through "booking-form"
      And someone changes the state in the receipt to "withdrawn"
      Then the receipt does not verify

    Scenario Outline: consent taken where the strategy does not capture it is refused
      When the service advisor records consent "given" to "<use>" through "<source>"
      Then the call is refused naming "<source>" and "<use>"
      And the customer has no consent history

      Examples:
        | use                   | source              |
        | accessibility-service | phone-booking       |
        | seasonal-reminders    | workshop-inspection |

  Rule: Art. 7(3) withdrawing is as easy as giving

    Scenario: the customer withdraws with the same single call, without logging in
      Given the customer consented to "seasonal-reminders"
      When the customer withdraws consent to "seasonal-reminders" by the id on the receipt
      Then the consent is recorded
      And the consent to "seasonal-reminders" is "withdrawn"
      And "seasonal-reminders" may not be applied to the customer

    Scenario: withdrawing rewrites nothing, the history keeps every statement
      Given the customer consented to "seasonal-reminders"
      When the customer withdraws consent to "seasonal-reminders" by the id on the receipt
      And the service advisor records consent "given" to "seasonal-reminders" through "service-desk"
      Then the history of "seasonal-reminders" reads "given, withdrawn, given"
      And every receipt in the history verifies
      And the consent to "seasonal-reminders" is "given"

    Scenario: giving consent needs staff who can show who gave it
      When the customer gives consent to "seasonal-reminders" without a staff token
      Then the call is refused as unauthorised
      And the customer has no consent history

  Rule: Art. 6(1)(a) consent is asked only for uses that rest on consent

    Scenario: consent to a use that rests on the contract is refused
      When the service advisor records consent "given" to "service-history" through "booking-form"
      Then the call is refused naming "service-history" and "contract"

  Rule: consent lapses after the use's consent_valid_for

    Scenario: consent given 25 months ago to a two-year purpose has expired
      Given the customer consented to "seasonal-reminders" 25 months ago
      Then the consent to "seasonal-reminders" is "expired"
      And "seasonal-reminders" may not be applied to the customer

    Scenario: consent given 23 months ago is still valid
      Given the customer consented to "seasonal-reminders" 23 months ago
      Then the consent to "seasonal-reminders" is "given"
      And "seasonal-reminders" may be applied to the customer

  Rule: Art. 21(5) a Global Privacy Control signal refuses direct marketing

    @art21
    Scenario: a consent call carrying Sec-GPC refuses every direct-marketing use
      Given the customer consented to "seasonal-reminders"
      When the customer refuses "accessibility-service" with the header "Sec-GPC: 1"
      Then the consent is recorded
      And the answer says the signal refused "seasonal-reminders"
      And the consent to "seasonal-reminders" is "refused"
      And the consent to "accessibility-service" is "refused"
