Feature: The data protection officer reviews a strategy change before it ships
  A process owner changes the strategy in a pull request. `tietotie diff OLD NEW` tells the
  data protection officer what the change changes for the people whose data it is, and its
  exit status says whether anything needs their sign-off before the change is merged.

  Background:
    Given the bundled strategy as it is deployed

  Rule: Art. 7 consent covers only the purpose people were told when they gave it

    @art7
    Scenario: A consent-based use whose purpose changed needs new consent
      Given a change where the purpose of "seasonal-reminders" reads "Kausimuistutukset sekä yhteistyökumppaneiden tarjoukset sähköpostilla."
      When the data protection officer reviews the change
      Then "consent:seasonal-reminders:new-consent" needs the DPO's sign-off
      And the review says "consent-based use seasonal-reminders needs new consent: its purpose as told to people changed"
      And "uses:seasonal-reminders:purpose-changed" needs the DPO's sign-off
      And "notice:privacy-notice-2026-01:must-change" needs the DPO's sign-off
      And the review exits with status 1

    @art7
    Scenario: A consent-based use that gives up a field keeps the consents it has
      Given a change where "seasonal-reminders" no longer uses "tyre_storage.season"
      When the data protection officer reviews the change
      Then nothing in the "consent" section changes
      And "uses:seasonal-reminders:fields-changed" is reported without a sign-off

  Rule: Art. 5(1)(e) storage limitation and Art. 13 notices

    @art5
    Scenario: Shorter retention under a new notice version needs nobody's sign-off
      Given a change where "tyre-hotel" keeps its data for "P6M"
      And every source shows the notice "privacy-notice-2026-06"
      When the data protection officer reviews the change
      Then "retention:tyre-hotel:shorter" is reported without a sign-off
      And the review says "the notice version changes to privacy-notice-2026-06"
      And the review exits with status 0
