Feature: Marketing sees only what reminders, feedback and analysis need
  Marketing is one part-time person. Reminders need a way to reach the customer and what
  tyres they drive; feedback and analysis need no contact details at all (Art. 5(1)(c)).

  Rule: Art. 5(1)(c) data minimisation: reminders get contact details, not invoices

    Scenario: marketing reads the email for reminders
      Given the role "marketing"
      When it reads "customer.email" for "seasonal-reminders"
      Then access is allowed

    Scenario: marketing sees the customer's name only masked
      Given the role "marketing"
      When it reads "customer.name" for "seasonal-reminders"
      Then access is masked

    Scenario: marketing may not change a visit
      Given the role "marketing"
      When it writes "visit.amount_eur" for "seasonal-reminders"
      Then access is denied

    Scenario Outline: marketing for reminders: <field> is <decision>
      Given the role "marketing"
      When it reads "<field>" for "seasonal-reminders"
      Then access is <decision>

      Examples:
        | field                       | decision |
        | customer.phone              | allowed  |
        | vehicle.tyre_type           | allowed  |
        | customer.street_address     | denied   |
        | visit.amount_eur            | denied   |
        | vehicle.plate               | denied   |

  Rule: Art. 5(1)(b) purpose limitation: an email given for feedback is not a mailing list

    Scenario: marketing sees the email only masked for feedback
      Given the role "marketing"
      When it reads "customer.email" for "customer-feedback"
      Then access is masked

    Scenario: analysis needs the area, not the address
      Given the role "marketing"
      When it reads "customer.postal_code" for "service-quality-analytics"
      Then access is masked

    Scenario: marketing does not keep the books
      Given the role "marketing"
      Then it does not hold the purpose "bookkeeping"
      When it reads "visit.invoice_number" for "bookkeeping"
      Then access is denied

  Rule: Art. 9 special categories: health data stays with the people who help the customer

    Scenario: marketing never reads the accessibility need
      Given the role "marketing"
      When it reads "customer.accessibility_need" for "seasonal-reminders"
      Then access is denied
