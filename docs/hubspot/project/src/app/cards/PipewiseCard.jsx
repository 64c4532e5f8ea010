// Pipewise's app card: asks Pipewise for the record's card through hubspot.fetch (HubSpot signs the request
// with X-HubSpot-Signature-v3 and adds userId, portalId, userEmail and appId) and renders the answer, which is
// HubSpot's card detail payload: sections of label/value tokens and top-level IFRAME actions.
import React, { useEffect, useState } from "react";
import {
  Button, DescriptionList, DescriptionListItem, ErrorState, Flex, LoadingSpinner, Text, hubspot,
} from "@hubspot/ui-extensions";

// Replace with your Pipewise public URL (PIPEWISE_PUBLIC_URL); it must be listed in permittedUrls.fetch.
const CARD_URL = "https://pipewise.example.com/embed/hubspot/card";

hubspot.extend(({ context, actions }) => <PipewiseCard context={context} openIframe={actions.openIframeModal} />);

function PipewiseCard({ context, openIframe }) {
  const [card, setCard] = useState(null);
  const [failure, setFailure] = useState(null);

  useEffect(() => {
    const query = new URLSearchParams({
      associatedObjectId: String(context.crm.objectId),
      associatedObjectType: context.crm.objectTypeId,
    });
    hubspot.fetch(`${CARD_URL}?${query}`, { method: "GET" })
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then(setCard)
      .catch((error) => setFailure(error.message));
  }, [context.crm.objectId, context.crm.objectTypeId]);

  if (failure) {
    return <ErrorState title="Pipewise could not be reached.">
      <Text>{failure}. Try again in a minute; if it persists, ask your HubSpot admin to run the Pipewise check.</Text>
    </ErrorState>;
  }
  if (!card) {
    return <LoadingSpinner label="Loading the Pipewise score" />;
  }
  const top = card.topLevelActions || {};
  const actions = [top.primary, ...(top.secondary || [])].filter(Boolean);
  return (
    <Flex direction="column" gap="sm">
      {card.sections.map((section) => (
        <Flex key={section.id} direction="column" gap="xs">
          <Text format={{ fontWeight: "bold" }}>{section.title}</Text>
          <DescriptionList direction="column">
            {section.tokens.map((token) => (
              <DescriptionListItem key={token.name || token.label} label={token.label}>
                <Text>{token.value}</Text>
              </DescriptionListItem>
            ))}
          </DescriptionList>
        </Flex>
      ))}
      <Flex direction="row" gap="xs">
        {actions.filter((action) => action.type === "IFRAME").map((action) => (
          <Button key={action.label} onClick={() => openIframe({
            uri: action.url, width: action.width, height: action.height, title: action.label,
          })}>{action.label}</Button>
        ))}
      </Flex>
    </Flex>
  );
}
