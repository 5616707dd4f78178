@dsar @browser @slow
Feature: Customers use their rights in the privacy center, in a browser, on their own
  A customer of the car-service company opens the privacy center, chooses a right in plain
  words and gives the email address the company knows them by. A code comes by email; typed
  on the request's page, it shows the request's status, what privacy staff did, and the data
  to download. Anyone who opens a request sees the same pages, so nobody learns from them who
  is a customer. Each scenario is played in a real browser against the running service.

  @art15
  Rule: Art. 15 right of access: the customer sees their data and takes a copy

    Scenario: A customer sees their data and downloads it as JSON and as a zip
      Given "liisa.access@example.fi" is a customer with a car and a past visit
      When the customer opens the privacy center in English
      And the customer asks to "See your data", giving the email address
      Then the page says "Enter your code"
      When the customer enters the code from the email
      Then the page says "Confirmed; waiting to be handled"
      When privacy staff complete the request
      And the customer opens the request's page again
      Then the page says "Done"
      When the customer downloads "Download (JSON)"
      Then the file holds the customer's "customer", "vehicle" and "visit" records
      When the customer downloads "Download (zip with a README)"
      Then the zip holds a README and the customer's "customer", "vehicle" and "visit" records

  @art20
  Rule: Art. 20 right to data portability: the data the customer gave, machine-readable

    Scenario: A customer takes a copy of their data elsewhere
      Given "liisa.portable@example.fi" is a customer with a car and a past visit
      When the customer opens the privacy center in English
      And the customer asks to "Get a copy to take elsewhere", giving the email address
      And the customer enters the code from the email
      And privacy staff complete the request
      And the customer opens the request's page again
      Then the page says "Done"
      When the customer downloads "Download (JSON)"
      Then the file holds the customer's "customer", "vehicle" and "visit" records

  @art17
  Rule: Art. 17 right to erasure: what no law keeps is erased, and the page says what was kept

    Scenario: A customer has their data erased and is told what was kept and why
      Given "liisa.erase@example.fi" is a customer with a car and a past visit
      When the customer opens the privacy center in English
      And the customer asks to "Erase your data", giving the email address
      And the customer enters the code from the email
      And privacy staff complete the request
      And the customer opens the request's page again
      Then the page says "Done"
      And the page lists "vehicle" records as erased
      And the page lists "visit" records as kept because of "Kirjanpitolaki"
      And the company no longer holds the customer's "vehicle" records

  @art18
  Rule: Art. 18 right to restriction: the data is kept, but out of use

    Scenario Outline: A customer restricts the use of their data, in <language>
      Given "<email>" is a customer with a car and a past visit
      When the customer opens the privacy center in <language>
      And the customer asks to "<right>", giving the email address
      Then the page says "<code page>"
      When the customer enters the code from the email
      Then the page says "<confirmed>"
      When privacy staff complete the request
      And the customer opens the request's page again
      Then the page says "<done>"
      And a "restriction" stands against the customer in the company's records

      Examples:
        | language | email                     | right              | code page       | confirmed                        | done   |
        | Finnish  | liisa.rajoitus@example.fi | Rajoita käsittelyä | Syötä koodisi   | Vahvistettu; odottaa käsittelyä  | Valmis |
        | English  | liisa.restrict@example.fi | Restrict use       | Enter your code | Confirmed; waiting to be handled | Done   |

  @art21
  Rule: Art. 21(3) objection to direct marketing ends it

    Scenario: A customer objects to marketing and their consent to it ends
      Given "liisa.object@example.fi" is a customer with a car and a past visit
      And the customer has consented to "seasonal-reminders"
      When the customer opens the privacy center in English
      And the customer asks to "Object to marketing", giving the email address
      And the customer enters the code from the email
      And privacy staff complete the request
      And the customer opens the request's page again
      Then the page says "Done"
      And an "objection" stands against the customer in the company's records
      And the customer's consent to "seasonal-reminders" is "withdrawn"

  @art12
  Rule: Art. 12(6) only the person themselves follows a request, and the pages tell nobody who is a customer

    Scenario: A stranger sees word for word the page a customer sees after opening a request
      Given "liisa.same@example.fi" is a customer with a car and a past visit
      When the customer opens the privacy center in English
      And the customer asks to "See your data", giving the email address
      And a stranger, "nobody.known@example.fi", asks to "See your data" in English in another browser
      Then the stranger's page reads exactly like the customer's

  @art32
  Rule: Art. 32 security of processing: wrong codes are counted, and the customer is told how many tries are left

    Scenario: A mistyped code leaves four attempts, and the right code still works
      Given "liisa.typo@example.fi" is a customer with a car and a past visit
      When the customer opens the privacy center in English
      And the customer asks to "See your data", giving the email address
      And the customer enters a code other than the one in the email
      Then the page says "That code is not right, or it can no longer be used. 4 attempts left."
      When the customer enters the code from the email
      Then the page says "Confirmed; waiting to be handled"

  @art16
  Rule: Art. 16 right to rectification: the customer says what is wrong, staff correct it

    Scenario: A customer corrects their town on the request's page
      Given "liisa.correct@example.fi" is a customer with a car and a past visit
      When the customer opens the privacy center in English
      And the customer asks to "Correct your data", giving the email address
      And the customer enters the code from the email
      And the customer writes "Tampere" as the new "Postitoimipaikka" and sends it
      Then the page says "What you asked us to correct"
      When privacy staff complete the request
      And the customer opens the request's page again
      Then the page says "Done"
      And the company's record of the customer holds "Tampere" as "city"

  @art7
  Rule: Art. 7(3) withdrawing consent is as easy as giving it

    Scenario Outline: A customer signs in with a code, gives a consent and withdraws it, in <language>
      Given "<email>" is a customer with a car and a past visit
      When the customer opens the privacy center in <language>
      And the customer signs in to manage consents with the email address
      Then the page says "<not asked>"
      When the customer clicks "<give>" for "seasonal-reminders"
      Then the customer's consent to "seasonal-reminders" is "given"
      When the customer clicks "<withdraw>" for "seasonal-reminders"
      Then the customer's consent to "seasonal-reminders" is "withdrawn"
      And the page offers 2 signed receipts to download

      Examples:
        | language | email                        | not asked     | give           | withdraw           |
        | Finnish  | liisa.suostumus@example.fi   | Ei vielä kysytty | Anna suostumus | Peruuta suostumus |
        | English  | liisa.consent@example.fi     | Not asked yet | Give           | Withdraw           |
