/**
 * The instruction templates of the multi-task prompts (spec E.2, E.3), in our own wording.
 *
 * A template belongs to one task and one subtype; its id is its index within the task, as in the
 * official code (item2index 0-5 title, 6-11 description, 12-17 both, ...), so "template 3 of
 * seqrec" means the same thing in the stage's files, the trainer and the evaluation. Placeholders:
 *   {history}      the rendered history (item IDs, or quoted titles for `titles-to-id`)
 *   {item}         the item's semantic-ID tokens
 *   {title}        the prompt-side title (promptText.ts)
 *   {description}  the prompt-side description
 * The response is fixed by the subtype, never by the template, so that constrained decoding can
 * rely on "the response is exactly the item's tokens" for every ID-producing template.
 *
 * Changing, adding or reordering a template changes the samples: bump PROMPTS_CODE_VERSION.
 */

export const PROMPT_TASKS = ['seqrec', 'item2index', 'index2item', 'fusionseqrec'] as const;
export type PromptTask = (typeof PROMPT_TASKS)[number];

/** Which item text an item task uses. */
export const ITEM_TEXT_SUBTYPES = ['title', 'description', 'both'] as const;
export type ItemTextSubtype = (typeof ITEM_TEXT_SUBTYPES)[number];

/** fusionseqrec: ID history -> next title / next description; quoted-title history -> next ID. */
export const FUSION_SUBTYPES = ['ids-to-title', 'ids-to-description', 'titles-to-id'] as const;
export type FusionSubtype = (typeof FUSION_SUBTYPES)[number];

export const SEQREC_SUBTYPE = 'ids-to-id';
export type PromptSubtype = typeof SEQREC_SUBTYPE | ItemTextSubtype | FusionSubtype;

export const SUBTYPES_OF: Record<PromptTask, readonly PromptSubtype[]> = {
  seqrec: [SEQREC_SUBTYPE],
  item2index: ITEM_TEXT_SUBTYPES,
  index2item: ITEM_TEXT_SUBTYPES,
  fusionseqrec: FUSION_SUBTYPES,
};

export interface PromptTemplate {
  task: PromptTask;
  subtype: PromptSubtype;
  /** Index within the task's list. */
  id: number;
  instruction: string;
  response: string;
}

type Group = [PromptSubtype, string, string[]];

const GROUPS: Record<PromptTask, Group[]> = {
  seqrec: [
    [
      SEQREC_SUBTYPE,
      '{item}',
      [
        'Here are the items a user interacted with, oldest first: {history}. Which item will the user interact with next?',
        "A shopper's purchases in the order they were made: {history}. Predict the item they are most likely to buy next.",
        'Given this sequence of items, from earliest to latest: {history}, recommend the single item that should come next.',
        'The user has engaged with the following items over time: {history}. What is the next item for this user?',
        'Interaction history (earliest first): {history}\nSuggest the item this user will choose next.',
        'Based on the chronological history {history}, identify the next item the user will want.',
        "You are a recommender system. The user's past items, in order, are {history}. Output the item to recommend next.",
        'These items were bought one after another by the same customer: {history}. Name the item that follows.',
        'Past interactions of a user, listed in time order: {history}. Which item comes next in this sequence?',
        'The user has already interacted with {history}, in that order. What should they be shown next?',
        'Items the user visited so far: {history}. Give the identifier of the next item they will visit.',
        "Continue this user's item sequence with the most probable next item: {history}",
      ],
    ],
  ],
  item2index: [
    [
      'title',
      '{item}',
      [
        'Which item carries the title "{title}"?',
        'Give the identifier of the product named "{title}".',
        'A product is listed as "{title}". What is its item ID?',
        'Find the item whose name is "{title}".',
        'Map the product title "{title}" to the matching item.',
        'What item corresponds to the listing "{title}"?',
      ],
    ],
    [
      'description',
      '{item}',
      [
        'Which item fits this description: "{description}"?',
        'A product is described as follows: "{description}". Which item is it?',
        'Identify the item that matches the description "{description}".',
        'Here is what a product is like: "{description}". Return its item ID.',
        'Find the item described by "{description}".',
        'Which product does this text describe? "{description}"',
      ],
    ],
    [
      'both',
      '{item}',
      [
        'Which item is titled "{title}" and described as "{description}"?',
        'A product named "{title}" has this description: "{description}". What is its item ID?',
        'Find the item with the title "{title}" and the description "{description}".',
        'Title: "{title}". Description: "{description}". Which item is this?',
        'Identify the product "{title}", described as "{description}".',
        'Give the item ID of "{title}", a product described as "{description}".',
      ],
    ],
  ],
  index2item: [
    [
      'title',
      '{title}',
      [
        'What is the title of item {item}?',
        'Give the product name of {item}.',
        'Which title does the item {item} carry?',
        'Tell me the name of the product {item}.',
        'Item {item} is listed under what title?',
        'Write the title of the item {item}.',
      ],
    ],
    [
      'description',
      '{description}',
      [
        'Describe item {item}.',
        'What is the product {item} like? Give its description.',
        'Write a short description of the item {item}.',
        'How would you describe the product {item}?',
        'Give the description of item {item}.',
        'What is item {item} about?',
      ],
    ],
    [
      'both',
      '{title}\n\n{description}',
      [
        'Give the title and the description of item {item}.',
        'What is the product {item} called, and what is it like?',
        'Name the item {item} and describe it.',
        'Provide the title of {item}, then its description.',
        'Tell me the name of item {item} and give a short description of it.',
      ],
    ],
  ],
  fusionseqrec: [
    [
      'ids-to-title',
      '{title}',
      [
        'The user interacted with these items in order: {history}. What is the title of the item they will choose next?',
        'Given the history {history}, predict the name of the next product the user will buy.',
        'Past items, earliest first: {history}. Write the title of the item that comes next.',
        "From the sequence {history}, guess the title of the user's next item.",
      ],
    ],
    [
      'ids-to-description',
      '{description}',
      [
        "The user's items so far, in order: {history}. Describe the item they will interact with next.",
        'Given the history {history}, write a description of the next item the user will want.',
        'Based on the sequence {history}, what will the next item be like? Describe it.',
        'After {history}, the user picks one more item. Give its description.',
      ],
    ],
    [
      'titles-to-id',
      '{item}',
      [
        'The user bought products titled {history}, in this order. Which item will they buy next?',
        'Here are the titles of the items a user chose, oldest first: {history}. Recommend the next item.',
        'Given a history of product titles, {history}, predict the ID of the next item.',
        'A customer looked at {history}, one after another. Which item is next?',
      ],
    ],
  ],
};

/** Every template of every task, by task; ids are list indices. */
export type TemplateCatalog = Record<PromptTask, readonly PromptTemplate[]>;

export const TEMPLATES: TemplateCatalog = Object.fromEntries(
  PROMPT_TASKS.map((task) => {
    const list: PromptTemplate[] = [];
    for (const [subtype, response, instructions] of GROUPS[task]) {
      for (const instruction of instructions) list.push({ task, subtype, id: list.length, instruction, response });
    }
    return [task, list];
  }),
) as unknown as TemplateCatalog;

/** Template ids of one task and subtype, ascending. */
export function templateIdsOf(catalog: TemplateCatalog, task: PromptTask, subtype: PromptSubtype): Int32Array {
  const ids = catalog[task].filter((t) => t.subtype === subtype).map((t) => t.id);
  if (ids.length === 0) throw new RangeError(`no ${task} template for subtype '${subtype}'`);
  return Int32Array.from(ids);
}

/** The template `id` of `task`; throws when there is none. */
export function templateOf(catalog: TemplateCatalog, task: PromptTask, id: number): PromptTemplate {
  const template = catalog[task][id];
  if (template === undefined) throw new RangeError(`${task} has no template ${id} (it has ${catalog[task].length})`);
  return template;
}
