Feature: Access to customer data follows the strategy, field by field and purpose by purpose
  The system step of the strategy says which role may read, write or see masked which field,
  for which use. The service enforces it on every read; whatever it does not grant is denied.

  Rule: Art. 25(2) data protection by default: what no grant names is denied

    Scenario: a mechanic asking for a customer's email is denied
      Given the role "mechanic"
      When it reads "customer.email" for "service-history"
      Then access is denied

    Scenario: a write that no grant lists is denied even where reading is allowed
      Given the role "marketing"
      When it writes "customer.email" for "seasonal-reminders"
      Then access is denied

  Rule: Art. 5(1)(b) purpose limitation: the same field, another purpose, another answer

    Scenario Outline: marketing reading the email for <use> is <decision>
      Given the role "marketing"
      When it reads "customer.email" for "<use>"
      Then access is <decision>

      Examples:
        | use                       | decision |
        | seasonal-reminders        | allowed  |
        | customer-feedback         | masked   |
        | service-quality-analytics | denied   |
        | bookkeeping               | denied   |

    Scenario: a read for a purpose the role does not hold is refused, not widened
      Given the role "marketing"
      Then it does not hold the purpose "bookkeeping"
      When it views the sample customer record for "bookkeeping"
      Then the read is refused naming the purpose "bookkeeping"

  Rule: Art. 5(1)(c) data minimisation: a record shows only what the purpose needs

    Scenario: marketing sees a customer as reminders need it, the name only masked
      Given the role "marketing"
      When it views the sample customer record for "seasonal-reminders"
      Then "email" is shown in clear
      And "phone" is shown in clear
      And "name" is shown masked as "K. V."
      And "street_address" is not shown
      And "accessibility_need" is not shown

    Scenario: analysis sees the area of a postal code, not the address
      Given the role "marketing"
      When it views the sample customer record for "service-quality-analytics"
      Then "postal_code" is shown masked as "02***"
      And "email" is not shown
      And "branch" is shown in clear

  Rule: Art. 9 special categories: health data only for the purpose consented to

    Scenario: the service advisor reads the accessibility need for the accessibility service
      Given the role "service-advisor"
      When it views the sample customer record for "accessibility-service"
      Then "accessibility_need" is shown in clear
      And "email" is not shown

  Rule: Art. 32 security of processing: a mechanic sees only the customers of their branch

    Scenario: the Espoo mechanic's rows are limited to Espoo
      Given the role "mechanic"
      Then its rows for "service-history" are limited to "customer.branch" eq "espoo"

    Scenario: the service advisor works in both branches
      Given the role "service-advisor"
      Then its rows for "service-history" are not limited

  Rule: Art. 5(2) accountability: every denial and every mask can be audited

    Scenario: the auditor's check of a kept invoice is audited without the invoice itself
      Given the role "auditor"
      When it views the sample visit record for "bookkeeping"
      Then "amount_eur" is shown in clear
      And "invoice_number" is shown masked as "[masked]"
      And "work_notes" is not shown
      And the audit log holds a "mask" event for "visit.invoice_number"
      And the audit log holds a "deny" event for "visit.work_notes"
      And no audit event holds a value of the record
