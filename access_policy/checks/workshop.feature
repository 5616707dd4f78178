Feature: Mechanics see their own branch's cars, not prices, email or health data
  A mechanic needs the car, its history and a phone number to call when it is ready.

  Rule: Art. 5(1)(c) data minimisation: the workshop gets the car, not the bill

    Scenario Outline: <role> reading <field> for service history is <decision>
      Given the role "<role>"
      When it reads "<field>" for "service-history"
      Then access is <decision>

      Examples: Espoo workshop
        | role            | field              | decision |
        | mechanic        | customer.name      | allowed  |
        | mechanic        | customer.phone     | allowed  |
        | mechanic        | vehicle.plate      | allowed  |
        | mechanic        | visit.work_notes   | allowed  |
        | mechanic        | customer.email     | denied   |
        | mechanic        | visit.amount_eur   | denied   |

      Examples: Vantaa tyre-change point
        | role            | field              | decision |
        | mechanic-vantaa | customer.phone     | allowed  |
        | mechanic-vantaa | visit.amount_eur   | denied   |

    Scenario Outline: a mechanic writes <field> for service history: <decision>
      Given the role "mechanic"
      When it writes "<field>" for "service-history"
      Then access is <decision>

      Examples:
        | field              | decision |
        | visit.mileage_km   | allowed  |
        | visit.work_notes   | allowed  |
        | visit.amount_eur   | denied   |
        | customer.name      | denied   |

  Rule: Art. 32 security of processing: each branch sees only its own customers

    Scenario: the Espoo mechanic sees only Espoo customers
      Given the role "mechanic"
      Then its rows for "service-history" are limited to "customer.branch" eq "espoo"
      And its rows for "tyre-hotel" are limited to "customer.branch" eq "espoo"

    Scenario: the Vantaa mechanic sees only Vantaa customers
      Given the role "mechanic-vantaa"
      Then its rows for "service-history" are limited to "customer.branch" eq "vantaa"

  Rule: Art. 9 special categories: health data is for accessibility service only

    Scenario: a mechanic does not hold the accessibility service
      Given the role "mechanic"
      Then it does not hold the purpose "accessibility-service"
      When it reads "customer.accessibility_need" for "accessibility-service"
      Then access is denied

    Scenario: the service advisor reads the accessibility need to help the customer
      Given the role "service-advisor"
      Then it holds the purpose "accessibility-service"
      When it reads "customer.accessibility_need" for "accessibility-service"
      Then access is allowed

  Rule: Art. 17(3)(b) kept invoices are checked without seeing who they belong to

    Scenario Outline: the auditor reads <field> for bookkeeping: <decision>
      Given the role "auditor"
      When it reads "<field>" for "bookkeeping"
      Then access is <decision>

      Examples:
        | field                   | decision |
        | visit.amount_eur        | allowed  |
        | visit.visited_at        | allowed  |
        | customer.name           | masked   |
        | visit.invoice_number    | masked   |
        | customer.street_address | denied   |
